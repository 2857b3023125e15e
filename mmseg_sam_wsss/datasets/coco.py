"""MS-COCO as 81-class semantic segmentation (background + 80 objects), the WSSS benchmark."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ..core.coco import COCO_CLASSES, COCO_PALETTE


@DATASETS.register_module()
class COCO81Dataset(BaseSegDataset):
    """COCO 2014 with the 81-class labels of ``tools/convert_coco.py`` (mmseg ships COCO-Stuff).

    Layout (``configs/sam_wsss/*_coco.py``): images ``train2014/<name>.jpg``, labels
    ``labels/train2014/<name>.png`` (class ids 0..80, 0 = background, 255 = ignore), the id list
    ``labels/train2014/ids.txt`` as ``ann_file`` and image tags ``labels/train2014/cls_labels.json``
    (for ``LoadImageTags``); the same for val2014.

    Args:
        img_suffix (str): Default: '.jpg'.
        seg_map_suffix (str): Default: '.png'.
        **kwargs: Passed to ``BaseSegDataset``.
    """

    METAINFO = dict(classes=COCO_CLASSES, palette=COCO_PALETTE.tolist())

    def __init__(self, img_suffix: str = '.jpg', seg_map_suffix: str = '.png', **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)
