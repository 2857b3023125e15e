"""Test doubles for the SAM wrapper: masks with SAM-like geometry from an untrained model.

A random-init SAM (``build_sam('tiny', random_init=True)``) gives near-zero logits whose masks
all cover the whole image, so stability is 0 and box NMS keeps one mask: nothing downstream is
exercised. :func:`add_point_disks` makes its mask decoder add, around each prompt point, a disk
of positive logits per multimask output (three radii, three sharpnesses) on top of the random
logits (scaled up into a texture that wiggles the borders and leaves small islands and holes).
Masks are then local, varied and smooth-edged, like SAM's, and the predicted IoU stays the
random network's. Both segment_anything's generator and ours see the same model.

These masks are NOT SAM masks; the model keeps its ``mask_source`` ('... (not SAM)').
torch only; no mmseg, no mmcv.
"""
from typing import Sequence

import torch
from segment_anything.modeling import Sam


class _RecordingPromptEncoder(torch.nn.Module):
    """The prompt encoder, remembering the last point prompts for the mask decoder."""

    def __init__(self, prompt_encoder: torch.nn.Module) -> None:
        super().__init__()
        self.inner = prompt_encoder
        self.last_points = None

    def forward(self, points, boxes, masks):
        self.last_points = None if points is None else points[0]
        return self.inner(points, boxes, masks)

    def get_dense_pe(self) -> torch.Tensor:
        return self.inner.get_dense_pe()


class _PointDiskDecoder(torch.nn.Module):
    """The mask decoder, plus a disk of logits around each prompt point."""

    def __init__(self, mask_decoder: torch.nn.Module, recorder: _RecordingPromptEncoder,
                 input_size: int, radii: Sequence[float], sharpness: Sequence[float],
                 texture: float) -> None:
        super().__init__()
        self.inner, self.recorder, self.input_size = mask_decoder, recorder, input_size
        self.register_buffer('radii', torch.as_tensor(radii, dtype=torch.float32))
        self.register_buffer('sharpness', torch.as_tensor(sharpness, dtype=torch.float32))
        self.texture = texture

    def forward(self, image_embeddings, image_pe, sparse_prompt_embeddings,
                dense_prompt_embeddings, multimask_output):
        low_res, iou_preds = self.inner(image_embeddings=image_embeddings, image_pe=image_pe,
                                        sparse_prompt_embeddings=sparse_prompt_embeddings,
                                        dense_prompt_embeddings=dense_prompt_embeddings,
                                        multimask_output=multimask_output)
        points = self.recorder.last_points
        if points is None:
            return low_res, iou_preds
        num_outputs, size = low_res.shape[1], low_res.shape[-1]
        scale = size / self.input_size
        centre = points[:, 0].float() * scale  # (B, 2) x, y in low-res pixels
        grid = (torch.arange(size, device=low_res.device, dtype=torch.float32) + 0.5)
        dist2 = ((grid[None, None, :] - centre[:, 0, None, None]) ** 2
                 + (grid[None, :, None] - centre[:, 1, None, None]) ** 2)  # (B, size, size)
        index = torch.arange(num_outputs, device=low_res.device) % len(self.radii)
        radii2 = (self.radii[index] * scale) ** 2
        disks = self.sharpness[index, None, None] * (1 - dist2[:, None] / radii2[:, None, None])
        return self.texture * low_res + disks.to(low_res.dtype), iou_preds


def add_point_disks(sam_model: Sam, radii: Sequence[float] = (6.0, 12.0, 24.0),
                    sharpness: Sequence[float] = (12.0, 40.0, 80.0),
                    texture: float = 30.0) -> Sam:
    """Make ``sam_model``'s masks disks around the prompt points (in place; tests only).

    Args:
        sam_model (Sam): A (random-init) segment_anything model.
        radii (Sequence[float]): Disk radius per multimask output, in model-input pixels
            (the image resized to ``img_size`` on its long side). Default: (6, 12, 24).
        sharpness (Sequence[float]): Logit at each disk's centre; sets the stability score
            (about (s - 1) / (s + 1)). Default: (12, 40, 80).
        texture (float): Factor on the random network's logits. Default: 30.

    Returns:
        Sam: The same model object, its prompt encoder and mask decoder wrapped.
    """
    recorder = _RecordingPromptEncoder(sam_model.prompt_encoder)
    sam_model.prompt_encoder = recorder
    sam_model.mask_decoder = _PointDiskDecoder(sam_model.mask_decoder, recorder,
                                               sam_model.image_encoder.img_size, radii,
                                               sharpness, texture).to(sam_model.device)
    return sam_model
