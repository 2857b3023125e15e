"""Check the label map that ``LoadAnnotations`` loaded, so a bad PNG is named at load time."""
from typing import Dict

from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...core.io import IGNORE_INDEX, check_label_values
from ...errors import SamWsssError


@TRANSFORMS.register_module()
class CheckLabelValues(BaseTransform):
    """Refuse a ``gt_seg_map`` holding values that are not class ids, naming its file.

    Without it a value ``>= num_classes`` (a colour PNG, a label of another dataset) reaches the
    loss and fails deep in torch (``Target 77 is out of bounds``) with no file name. Place it
    right after ``LoadAnnotations`` (before ``SAMEnhancePseudoLabel`` or ``LoadWeakLabel``, which
    rewrite the map).

    Required keys: ``gt_seg_map`` (``(H, W)`` class ids), ``seg_map_path`` (for the message).

    Args:
        num_classes (int): Classes including background; values must be ``< num_classes`` or
            ``ignore_index``. Defaults to 21.
        ignore_index (int): The ignore value. Defaults to 255.
    """

    def __init__(self, num_classes: int = 21, ignore_index: int = IGNORE_INDEX) -> None:
        if not 2 <= num_classes <= 255:
            raise SamWsssError(f'CheckLabelValues: num_classes={num_classes} is outside its '
                               'range 2..255')
        if ignore_index != IGNORE_INDEX:
            raise SamWsssError(f'CheckLabelValues: ignore_index={ignore_index}; this package '
                               f'uses {IGNORE_INDEX}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: Dict) -> Dict:
        if 'gt_seg_map' not in results:
            raise SamWsssError('CheckLabelValues needs gt_seg_map: put LoadAnnotations before it')
        name = results.get('seg_map_path') or results.get('img_path') or 'gt_seg_map'
        check_label_values(results['gt_seg_map'], self.num_classes, name)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
