"""The SEPL paper's public merge code, re-implemented plainly: the reference that
tests/test_benchmarks/test_sepl_reference.py checks our merge against pixel for pixel, and the
baseline that benchmarks/bench_enhance.py times.

Source: https://github.com/cskyl/SAM_WSSS (the code of Chen et al. 2023, "Segment Anything
Model (SAM) Enhanced Pseudo Labels for Weakly Supervised Semantic Segmentation"), read at commit
0803fbadc199eca63badad4bd67fd7efa6373ed8:

- ``merge/max_iou_imp2.py``, ``MaxIoU_IMP2.merge`` (``main.py``'s default ``--method``);
- ``processor.py``, ``Processor.generate_merged_masks`` (reads the CAM label with PIL, calls
  the merge with the image's amg.py folder ``sam_path/<id>/``, which writes ``<id>.png``).

What the original does per image, and what this copy keeps on purpose (it is the timing
baseline, so its costs stay where the original has them):

- for each class ``i = 1..num_cls-1`` present in the CAM label ``P``, it walks the image's
  amg.py folder with ``os.scandir`` and, for every ``*png`` file not taken by an earlier class,
  decodes the PNG *again* (``mask = pixels == 255``) and works on full ``(H, W)`` boolean
  images: it ORs the mask into the union ``U`` of untaken masks and selects it when
  ``2 |M & P_i| - |M| > 0`` or ``|M & P_i| / |P_i| >= 0.85``; selected masks are taken (kept
  in a plain list, as there);
- class ``i`` is painted onto the union of its selected masks and onto ``P_i & ~U`` (the CAM is
  trusted where no untaken mask says anything); later classes overwrite earlier ones; the
  output starts at zeros, so ignore pixels (255) become background;
- the result is saved with ``PIL.Image.fromarray(...).save`` (a plain grayscale PNG).

The arithmetic and the per-mask work are the original's, including what costs time without
changing the result (``|M & P_i|`` and ``|P_i|`` recomputed for each test, an unused overlap
sum per selected mask, the candidates stacked by ``np.sum(..., axis=0)``), so the baseline is
not made faster than the code it stands for. Differences: plain functions instead of the
``Merger`` class and its ``params``, and our own names. No code is copied verbatim.
"""
import os
import os.path as osp

import numpy as np
from PIL import Image


def sepl_reference_merge(pseudo_label: np.ndarray, mask_folder: str,
                         num_classes: int = 21) -> np.ndarray:
    """The paper code's merge of one image's amg.py mask folder into its CAM label.

    Args:
        pseudo_label (np.ndarray): ``(H, W) uint8`` CAM pseudo-label (0 background, 255 ignore).
        mask_folder (str): amg.py output folder of the image (``<k>.png``, 0/255 masks).
        num_classes (int): Classes including background; classes ``1..num_classes-1`` are
            visited.

    Returns:
        np.ndarray: ``(H, W) uint8`` enhanced pseudo-label.
    """
    taken_paths = []  # a list, as in the original
    merged = np.zeros_like(pseudo_label)
    for class_id in range(1, num_classes):
        class_mask = pseudo_label == class_id
        if np.sum(class_mask) == 0:
            continue
        unused_overlap_sum = 0  # accumulated and never read in the original; kept for its cost
        candidates = []
        free_union = np.zeros_like(class_mask)
        for entry in os.scandir(mask_folder):
            if not (entry.is_file() and entry.path.endswith('png')) or entry.path in taken_paths:
                continue
            sam_mask = np.array(Image.open(entry.path)) == 255
            free_union = np.logical_or(free_union, sam_mask)
            # 2 |M & P_i| - |M| > 0  (majority), and |M & P_i| / |P_i| >= 0.85  (coverage)
            majority_margin = 2 * np.sum((class_mask == sam_mask) * class_mask) - np.sum(sam_mask)
            coverage = np.sum((class_mask == sam_mask) * class_mask) / np.sum(class_mask)
            if majority_margin > 0 or coverage >= 0.85:
                candidates.append(sam_mask)
                taken_paths.append(entry.path)
                unused_overlap_sum += np.sum(class_mask == sam_mask)
        # The CAM is trusted where no untaken mask covers the pixel.
        candidates.append(np.logical_and(free_union == 0, class_mask == 1))
        merged[np.sum(candidates, axis=0) > 0] = class_id
    return merged


def sepl_reference_file(image_id: str, pseudo_dir: str, amg_folder: str, out_dir: str,
                        num_classes: int = 21) -> None:
    """End to end as the paper's processor: read ``pseudo_dir/<id>.png``, merge with
    ``amg_folder/<id>/``, write ``out_dir/<id>.png`` (grayscale PNG)."""
    pseudo_label = np.array(Image.open(osp.join(pseudo_dir, image_id + '.png')))
    merged = sepl_reference_merge(pseudo_label, osp.join(amg_folder, image_id), num_classes)
    Image.fromarray(merged).save(osp.join(out_dir, image_id + '.png'))
