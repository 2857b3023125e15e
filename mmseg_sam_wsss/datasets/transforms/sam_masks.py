"""Load stored class-agnostic masks and merge them into the CAM pseudo-label, online.

The two transforms go after ``LoadAnnotations`` (which loads the CAM pseudo-label as
``gt_seg_map``) and before any geometric transform, so Resize/Crop/Flip move the enhanced map.
They give the same labels as ``tools/enhance_pseudo_labels.py``.
"""
import os.path as osp

from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

from ...core.mask_store import MaskSet, open_mask_source
from ...core.merge import enhance_pseudo_label, merge_rule_options
from ...errors import SamWsssError


@TRANSFORMS.register_module()
class LoadSAMMasks(BaseTransform):
    """Read the image's masks from a mask store (or an amg.py output folder).

    The image id is the basename of ``img_path`` without extension. The masks stay in their
    compact run-length form (no decoding); :class:`SAMEnhancePseudoLabel` works on it.

    Required keys: ``img_path``.

    Added keys: ``sam_masks`` (:class:`~mmseg_sam_wsss.core.mask_store.MaskSet`, the image's
    masks at the original image size).

    Args:
        mask_root (str): A mask store directory (with ``store.json``) or an amg.py folder.
    """

    def __init__(self, mask_root: str) -> None:
        self.mask_root = mask_root
        self._read_masks = None

    def transform(self, results: dict) -> dict:
        if self._read_masks is None:  # opened lazily so the pipeline builds without the data
            self._read_masks = open_mask_source(self.mask_root)
        image_id = osp.splitext(osp.basename(results['img_path']))[0]
        results['sam_masks'] = self._read_masks(image_id)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(mask_root={self.mask_root!r})'


@TRANSFORMS.register_module()
class SAMEnhancePseudoLabel(BaseTransform):
    """Rewrite the CAM pseudo-label ``gt_seg_map`` with the SEPL merge of ``sam_masks``.

    Required keys: ``gt_seg_map`` (``(H, W) uint8``, the CAM pseudo-label), ``sam_masks``.

    Modified keys: ``gt_seg_map`` (the enhanced pseudo-label, same size and dtype).

    Removed keys: ``sam_masks``.

    Args:
        rule (str): Merge rule in ``MERGE_RULES``: ``'sepl'`` (default), ``'max_iou'``,
            ``'sesam_coverage'`` or one registered with ``register_merge_rule``.
        num_classes (int): Classes including background. Defaults to 21.
        keep_ignore (bool): Keep unpainted 255 pixels at 255. Defaults to False (SEPL).
        **rule_options: The rule's thresholds, e.g. ``majority_ratio=0.5, coverage_ratio=0.85``
            for ``'sepl'``; an option the rule does not have is an error.
    """

    def __init__(self, rule: str = 'sepl', num_classes: int = 21, keep_ignore: bool = False,
                 **rule_options) -> None:
        self.rule_options = merge_rule_options(rule, rule_options,
                                               where='SAMEnhancePseudoLabel')
        self.rule = rule
        self.num_classes = num_classes
        self.keep_ignore = keep_ignore

    def transform(self, results: dict) -> dict:
        mask_set = results.pop('sam_masks', None)
        if not isinstance(mask_set, MaskSet):
            raise SamWsssError(f'{results.get("img_path")}: no sam_masks; put LoadSAMMasks '
                               'before SAMEnhancePseudoLabel in the pipeline')
        results['gt_seg_map'] = enhance_pseudo_label(
            results['gt_seg_map'], mask_set, rule=self.rule, num_classes=self.num_classes,
            keep_ignore=self.keep_ignore, name=results.get('seg_map_path'), **self.rule_options)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(rule={self.rule!r}, num_classes={self.num_classes},'
                f' keep_ignore={self.keep_ignore}, rule_options={self.rule_options})')
