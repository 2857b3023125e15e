"""Batched point prompts for one image through segment_anything's ``SamPredictor``.

The image is encoded once (:meth:`SamPromptAnswerer.set_image`); every batch of prompts then
runs only SAM's prompt encoder and mask decoder, with multimask output (three candidates per
prompt). torch + segment_anything + numpy only; no mmseg, no mmcv.
"""
from typing import Optional, Tuple

import numpy as np
import torch
from segment_anything import SamPredictor
from segment_anything.modeling import Sam

from ..errors import SamWsssError


class SamPromptAnswerer:
    """Answers batches of point prompts on one image with SAM's multimask output.

    Args:
        sam_model (Sam): A segment_anything model (e.g. from ``build_sam``).
        mask_source (str, optional): What produced the masks, recorded in outputs. Default:
            the model's ``mask_source`` attribute (set by ``build_sam``, e.g. ``'sam-vit_h'`` or
            ``'sam-random-init (not SAM)'``); required when the model has none.
    """

    num_candidates = 3

    def __init__(self, sam_model: Sam, mask_source: Optional[str] = None) -> None:
        self.mask_source = mask_source or getattr(sam_model, 'mask_source', None)
        if not self.mask_source:
            raise SamWsssError('SamPromptAnswerer needs mask_source= (what the weights are) '
                               'when the model has no mask_source attribute; build it with '
                               'mmseg_sam_wsss.sam.builder.build_sam')
        self.predictor = SamPredictor(sam_model)
        self.image_shape: Optional[Tuple[int, int]] = None

    def set_image(self, image: np.ndarray) -> None:
        """Encode ``(H, W, 3) uint8`` RGB once; later :meth:`answer` calls reuse it."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise SamWsssError(f'SAM needs an (H, W, 3) uint8 RGB image, got {image.shape} '
                               f'{image.dtype}')
        with torch.no_grad():
            self.predictor.set_image(image, image_format='RGB')
        self.image_shape = image.shape[:2]

    def answer(self, point_coords: np.ndarray,
               point_labels: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Three candidate masks per prompt.

        Args:
            point_coords (np.ndarray): ``(K, N, 2)`` ``(x, y)`` in image pixels.
            point_labels (np.ndarray): ``(K, N)``: 1 positive, 0 negative, -1 padding.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``(K, 3, H, W) bool`` candidates and ``(K, 3)
            float32`` SAM's predicted IoUs.
        """
        if self.image_shape is None:
            raise SamWsssError('call set_image(image) before answer(...)')
        height, width = self.image_shape
        if len(point_coords) == 0:
            return (np.zeros((0, self.num_candidates, height, width), bool),
                    np.zeros((0, self.num_candidates), np.float32))
        device = self.predictor.device
        coords = torch.as_tensor(np.asarray(point_coords, np.float32), device=device)
        coords = self.predictor.transform.apply_coords_torch(coords, self.image_shape)
        labels = torch.as_tensor(np.asarray(point_labels, np.int64), device=device)
        with torch.no_grad():
            masks, iou_predictions, _ = self.predictor.predict_torch(
                coords, labels, multimask_output=True)
        return masks.cpu().numpy().astype(bool), iou_predictions.float().cpu().numpy()
