"""Pipeline transforms registered into mmseg's TRANSFORMS."""
from .formatting import PackSemiSegInputs  # noqa: F401
from .image_tags import LoadImageTags  # noqa: F401
from .label_check import CheckLabelValues  # noqa: F401
from .weak_labels import LoadWeakLabel  # noqa: F401
from .sam_masks import LoadSAMMasks, SAMEnhancePseudoLabel  # noqa: F401
from .views import StudentTeacherViews  # noqa: F401
