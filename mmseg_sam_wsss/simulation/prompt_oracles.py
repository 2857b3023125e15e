"""An ORACLE prompt answerer: it reads the ground truth. Upper-bound tests only, never SAM.

It answers point prompts the way an ideal instance segmenter would, from the GT label map, so
the SeSAM prompt/selection/painting steps can be measured without SAM weights. Its outputs are
"oracle" results and must be labelled so (``mask_source``); they say nothing about SAM.
"""
from typing import Tuple

import numpy as np
from scipy import ndimage

from ..errors import SamWsssError
from ..core.io import IGNORE_INDEX
from ..core.sesam import EIGHT_CONNECTED


class OraclePromptAnswerer:
    """Answers point prompts with GT connected components (an oracle, not SAM).

    For each prompt, with ``c`` the GT class under its first positive point, the three
    candidates are: (0) the GT component of class ``c`` holding the first positive point,
    (1) the union of the class-``c`` GT components holding any positive point, (2) the whole
    GT mask of class ``c``. Points on ignore pixels give empty candidates. All scores are 1.

    Args:
        gt_label (np.ndarray): ``(H, W) uint8`` GT class ids, 255 = ignore.
    """

    mask_source = 'oracle-gt-components (not SAM)'
    num_candidates = 3

    def __init__(self, gt_label: np.ndarray) -> None:
        if gt_label.ndim != 2:
            raise SamWsssError(f'the oracle needs an (H, W) GT label, got {gt_label.shape}')
        self.gt_label = gt_label
        self._components = {}

    def _labelled(self, class_id: int) -> np.ndarray:
        if class_id not in self._components:
            self._components[class_id], _ = ndimage.label(self.gt_label == class_id,
                                                          structure=EIGHT_CONNECTED)
        return self._components[class_id]

    def answer(self, point_coords: np.ndarray,
               point_labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Candidates for K prompts.

        Args:
            point_coords (np.ndarray): ``(K, N, 2)`` ``(x, y)``.
            point_labels (np.ndarray): ``(K, N)``: 1 positive, 0 negative, -1 padding.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``(K, 3, H, W) bool`` candidates, ``(K, 3) float32``
            scores (all 1).
        """
        height, width = self.gt_label.shape
        candidates = np.zeros((len(point_coords), self.num_candidates, height, width), bool)
        for row, (coords, labels) in enumerate(zip(point_coords, point_labels)):
            positives = np.round(coords[labels == 1]).astype(np.int64)
            if len(positives) == 0:
                continue
            cols = np.clip(positives[:, 0], 0, width - 1)
            rows = np.clip(positives[:, 1], 0, height - 1)
            class_id = int(self.gt_label[rows[0], cols[0]])
            if class_id == IGNORE_INDEX:
                continue
            labelled = self._labelled(class_id)
            first = labelled[rows[0], cols[0]]
            hit = {int(labelled[r, c]) for r, c in zip(rows, cols)} - {0}
            candidates[row, 0] = labelled == first
            candidates[row, 1] = np.isin(labelled, sorted(hit))
            candidates[row, 2] = labelled > 0
        return candidates, np.ones(candidates.shape[:2], np.float32)
