"""Pipeline transforms registered into mmseg's TRANSFORMS."""
from .image_tags import LoadImageTags  # noqa: F401
from .weak_labels import LoadWeakLabel  # noqa: F401
from .sam_masks import LoadSAMMasks, SAMEnhancePseudoLabel  # noqa: F401
