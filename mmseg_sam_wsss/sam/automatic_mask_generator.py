"""A faster ``SamAutomaticMaskGenerator``: the same masks, straight into a :class:`MaskSet`.

Same algorithm, settings, masks and mask order as segment_anything's generator (grid prompts
per crop, predicted-IoU and stability filters, crop-edge filter, box NMS within and between
crops, optional small-region clean-up; its fp32 arithmetic, so the masks are identical), with
these changes for speed:

* several images (or crops) are encoded in one image-encoder batch (``image_batch_size``);
* larger prompt batches (``points_per_batch=256``);
* the predicted-IoU filter runs before masks are upsampled, so dropped masks never are;
* while prompting, each full-size mask is only reduced to its stability score and box
  (``amg_utils.stability_and_boxes``: no thresholded copy, only the rows that can hold mask
  pixels), in cache-sized chunks;
* only the masks that survive every NMS are upsampled again (the same computation, hence the
  same mask) and run-length encoded, one ``nonzero`` per chunk instead of a Python loop per
  mask, straight into the mask store's layout;
* the small-region clean-up runs on each mask's box, not the whole image
  (``amg_utils.clean_small_regions``);
* optional bf16/fp16 autocast (``amp``, for GPUs; masks then differ slightly); fp32 by default;
* out of GPU memory, it halves ``points_per_batch`` (when the mask decoder runs out) or
  ``image_batch_size`` (when the image encoder does), logs it and retries: the masks are the
  same, since both only change speed; below 1 it stops with one line.

The output is a :class:`MaskSet` instead of SAM's list of records (``output_mode``): runs are
COCO RLE counts, so ``MaskSet.rles`` / ``MaskSet.decode()`` give what SAM's ``coco_rle`` /
``binary_mask`` modes give. ``MaskSet.bboxes`` are COCO boxes (width = x1 - x0 + 1, as
pycocotools' ``toBbox``), where SAM's records give x1 - x0; SAM's per-mask ``crop_box`` is not
kept. torch + torchvision + segment_anything + numpy (+ cv2 when ``min_mask_region_area > 0``).
"""
import logging
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from segment_anything.modeling import Sam
from segment_anything.utils.amg import build_all_layer_point_grids, generate_crop_boxes
from segment_anything.utils.transforms import ResizeLongestSide

from ..core.mask_store import MaskSet
from ..errors import SamWsssError
from .amg_utils import (box_nms, boxes_near_crop_edge, clean_small_regions, concat_runs,
                        masks_to_boxes_xyxy, masks_to_runs_torch, select_runs,
                        stability_and_boxes)

AMP_DTYPES = {'none': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
# Full-size mask logits upsampled at once (elements): 16 MiB on the CPU, where a chunk that stays
# in cache through the reductions is faster; 256 MiB on GPUs, where fewer calls are faster.
UPSAMPLE_CHUNK_ELEMENTS = {'cpu': 2**22, 'cuda': 2**26}
OnImage = Callable[[int, MaskSet], None]


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is torch running out of device memory (CUDA's ``OutOfMemoryError`` or
    a ``RuntimeError`` saying "out of memory")."""
    oom_type = getattr(torch.cuda, 'OutOfMemoryError', None)
    return (oom_type is not None and isinstance(error, oom_type)) or (
        isinstance(error, RuntimeError) and 'out of memory' in str(error).lower())


class FastAutomaticMaskGenerator:
    """Automatic masks of whole images with SAM, batched over images and prompts.

    Args:
        sam_model (Sam): segment_anything model (see ``builder.build_sam``).
        points_per_side (int, optional): Grid points per image side; ``None`` when
            ``point_grids`` is given. Default: 32.
        points_per_batch (int): Prompts per mask-decoder call. Default: 256 (SAM: 64).
        pred_iou_thresh (float): Keep masks with predicted IoU above this. Default: 0.88.
        stability_score_thresh (float): Keep masks with stability >= this. Default: 0.95.
        stability_score_offset (float): Logit offset of the stability score. Default: 1.0.
        box_nms_thresh (float): Box IoU of NMS within a crop. Default: 0.7.
        crop_n_layers (int): Crop layers (layer i has (2^i)^2 crops). Default: 0.
        crop_nms_thresh (float): Box IoU of NMS between crops. Default: 0.7.
        crop_overlap_ratio (float): Crop overlap of the first layer. Default: 512 / 1500.
        crop_n_points_downscale_factor (int): Grid shrink per layer. Default: 1.
        point_grids (list[np.ndarray], optional): Explicit ``(P, 2)`` point grids in [0, 1],
            one per crop layer, instead of ``points_per_side``. Default: None.
        min_mask_region_area (int): Remove islands/holes smaller than this (needs cv2).
            Default: 0 (off).
        image_batch_size (int): Images (crops) per image-encoder call. Default: 4.
        amp (str): ``'none'`` (fp32), ``'bf16'`` or ``'fp16'`` autocast (GPU). Default:
            ``'none'``.
        mask_source (str, optional): Recorded in every MaskSet. Default: the model's
            ``mask_source`` attribute (``'sam-vit_h'``, ``'sam-random-init (not SAM)'``...).
        log (callable, optional): Receives one line per out-of-memory retry. Default: this
            module's ``logging`` logger at WARNING.
    """

    def __init__(self, sam_model: Sam, points_per_side: Optional[int] = 32,
                 points_per_batch: int = 256, pred_iou_thresh: float = 0.88,
                 stability_score_thresh: float = 0.95, stability_score_offset: float = 1.0,
                 box_nms_thresh: float = 0.7, crop_n_layers: int = 0,
                 crop_nms_thresh: float = 0.7, crop_overlap_ratio: float = 512 / 1500,
                 crop_n_points_downscale_factor: int = 1,
                 point_grids: Optional[List[np.ndarray]] = None, min_mask_region_area: int = 0,
                 image_batch_size: int = 4, amp: str = 'none',
                 mask_source: Optional[str] = None,
                 log: Optional[Callable[[str], None]] = None) -> None:
        if amp not in AMP_DTYPES:
            raise SamWsssError(f'amp must be one of {", ".join(AMP_DTYPES)}, got {amp!r}')
        if (points_per_side is None) == (point_grids is None):
            raise SamWsssError('give exactly one of points_per_side and point_grids')
        if (points_per_side is not None and points_per_side < 1) or points_per_batch < 1 \
                or image_batch_size < 1 or crop_n_layers < 0:
            raise SamWsssError('points_per_side, points_per_batch and image_batch_size must '
                               'be >= 1 and crop_n_layers >= 0')
        if point_grids is not None:
            point_grids = [np.asarray(grid, dtype=np.float64) for grid in point_grids]
            if len(point_grids) != crop_n_layers + 1 or any(
                    grid.ndim != 2 or grid.shape[1] != 2 for grid in point_grids):
                raise SamWsssError(f'point_grids must be crop_n_layers + 1 = '
                                   f'{crop_n_layers + 1} arrays of (x, y) points in [0, 1]')
        if min_mask_region_area > 0:
            import cv2  # noqa: F401  (the small-region clean-up needs it)
        self.mask_source = mask_source or getattr(sam_model, 'mask_source', None)
        if not self.mask_source:
            raise SamWsssError('FastAutomaticMaskGenerator needs mask_source= when the model has '
                               'no mask_source attribute; build it with sam.builder.build_sam')
        self.model = sam_model
        self.transform = ResizeLongestSide(sam_model.image_encoder.img_size)
        self.point_grids = point_grids if point_grids is not None else \
            build_all_layer_point_grids(points_per_side, crop_n_layers,
                                        crop_n_points_downscale_factor)
        self.settings = dict(
            points_per_side=points_per_side, points_per_batch=points_per_batch,
            pred_iou_thresh=pred_iou_thresh, stability_score_thresh=stability_score_thresh,
            stability_score_offset=stability_score_offset, box_nms_thresh=box_nms_thresh,
            crop_n_layers=crop_n_layers, crop_nms_thresh=crop_nms_thresh,
            crop_overlap_ratio=crop_overlap_ratio,
            crop_n_points_downscale_factor=crop_n_points_downscale_factor,
            min_mask_region_area=min_mask_region_area, amp=amp,
            model_type=getattr(sam_model, 'model_type', 'unknown'))
        if point_grids is not None:
            self.settings['point_grids'] = [grid.tolist() for grid in point_grids]
        self.image_batch_size = image_batch_size
        self.amp = amp
        self.log = log or logging.getLogger(__name__).warning
        self.memory_retries: List[str] = []  # one line per out-of-memory retry

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _autocast(self):
        dtype = AMP_DTYPES[self.amp]
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    @torch.no_grad()
    def encode(self, images: Sequence[np.ndarray]) -> Tuple[torch.Tensor, List[Tuple[int, int]]]:
        """Encode ``(H, W, 3) uint8`` RGB images in one batch, as ``SamPredictor.set_image``.

        Returns:
            tuple: ``(B, C, h, w)`` float32 embeddings and each image's resized input size.
        """
        batch, input_sizes = [], []
        for image in images:
            resized = torch.as_tensor(self.transform.apply_image(image), device=self.device)
            resized = resized.permute(2, 0, 1).contiguous()[None]
            input_sizes.append(tuple(resized.shape[-2:]))
            batch.append(self.model.preprocess(resized))
        with self._autocast():
            features = self.model.image_encoder(torch.cat(batch))
        return features.float(), input_sizes

    def generate(self, image: np.ndarray) -> MaskSet:
        """Masks of one ``(H, W, 3) uint8`` RGB image; see :meth:`generate_batch`."""
        return self.generate_batch([image])[0]

    @torch.no_grad()
    def generate_batch(self, images: Sequence[np.ndarray],
                       on_image: Optional[OnImage] = None) -> List[MaskSet]:
        """Masks of several ``(H, W, 3) uint8`` RGB images, encoded ``image_batch_size`` at once.

        Args:
            images (Sequence[np.ndarray]): ``(H, W, 3) uint8`` RGB images.
            on_image (callable, optional): Called as ``on_image(index, mask_set)`` as soon as
                an image is finished (a progress bar moves per image, not per batch).

        Returns:
            list[MaskSet]: Per image, masks in the same order as segment_anything's generator,
            with predicted IoU, stability score and prompt point per mask, ``source`` =
            the model's mask source and ``settings`` = this generator's settings.
        """
        for image in images:
            if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
                    or image.dtype != np.uint8 or 0 in image.shape:
                raise SamWsssError(f'SAM needs non-empty (H, W, 3) uint8 RGB images, got '
                                   f'{getattr(image, "shape", type(image))} '
                                   f'{getattr(image, "dtype", "")}')
        crops = []  # (image index, crop box, layer index)
        for index, image in enumerate(images):
            boxes, layers = generate_crop_boxes(image.shape[:2], self.settings['crop_n_layers'],
                                                self.settings['crop_overlap_ratio'])
            crops += [(index, box, layer) for box, layer in zip(boxes, layers)]
        per_image = [[] for _ in images]
        remaining = np.bincount([index for index, _, _ in crops], minlength=len(images))
        mask_sets = [None] * len(images)
        start = 0
        while start < len(crops):
            chunk = crops[start:start + self.image_batch_size]
            crop_images = [images[index][y0:y1, x0:x1] for index, (x0, y0, x1, y1), _ in chunk]
            encoded = self._retry_out_of_memory(
                lambda: self.encode(crop_images), 'image_batch_size',
                f'{len(chunk)} images (crops) of up to '
                f'{max(c.shape[0] for c in crop_images)}x{max(c.shape[1] for c in crop_images)}'
                ' in the image encoder', once=True)
            if encoded is None:  # out of memory: image_batch_size was halved, encode again
                continue
            features, input_sizes = encoded
            for k, (index, crop_box, layer) in enumerate(chunk):
                per_image[index].append(self._retry_out_of_memory(
                    lambda: self._process_crop(features[k:k + 1], input_sizes[k],
                                               crop_images[k].shape[:2], crop_box, layer,
                                               images[index].shape[:2]),
                    'points_per_batch', f'a {crop_images[k].shape[0]}x'
                    f'{crop_images[k].shape[1]} crop in the mask decoder'))
                remaining[index] -= 1
                if not remaining[index]:  # finish an image once its last crop is done
                    mask_sets[index] = self._finish_image(per_image[index],
                                                          images[index].shape[:2])
                    per_image[index] = None
                    if on_image is not None:
                        on_image(index, mask_sets[index])
            start += len(chunk)
        return mask_sets

    def _retry_out_of_memory(self, work: Callable, setting: str, what: str,
                             once: bool = False):
        """``work()``; out of device memory, halve ``setting`` (``'points_per_batch'`` or
        ``'image_batch_size'``), log it and run ``work`` again (with ``once``: return None and
        let the caller rebuild the work). Below 1 raise one line."""
        while True:
            try:
                return work()
            except RuntimeError as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
                if not is_out_of_memory(error):
                    raise
                reason = str(error).strip().splitlines()[0][:120] if str(error).strip() \
                    else type(error).__name__
            # Outside the except block, so the failed call's tensors are freed first.
            value = self.image_batch_size if setting == 'image_batch_size' else \
                self.settings['points_per_batch']
            if value <= 1:
                raise SamWsssError(
                    f'out of memory on {self.device} for {what} with SAM '
                    f'{self.settings["model_type"]} at points_per_batch='
                    f'{self.settings["points_per_batch"]} and image_batch_size='
                    f'{self.image_batch_size} ({reason}); free the GPU of other processes, or '
                    'use --amp bf16, a smaller --model-type or another --device')
            halved = value // 2
            if setting == 'image_batch_size':
                self.image_batch_size = halved
            else:
                self.settings['points_per_batch'] = halved
            line = (f'out of memory on {self.device} for {what} ({reason}): {setting} '
                    f'{value} -> {halved}, retrying (the masks are the same)')
            self.memory_retries.append(line)
            self.log(line)
            if self.device.type == 'cuda':
                torch.cuda.empty_cache()
            if once:
                return None

    def _process_crop(self, features: torch.Tensor, input_size: Tuple[int, int],
                      crop_size: Tuple[int, int], crop_box: List[int], layer: int,
                      orig_size: Tuple[int, int]) -> dict:
        """Prompt the grid on one encoded crop and NMS inside it (SAM's ``_process_crop``).

        Returns:
            dict: Per kept mask, in SAM's order: ``low_res`` logits, ``boxes`` (XYXY, image
            frame), ``iou_preds``, ``stability``, ``points`` (image frame), ``crop_area``, and
            the crop's geometry for :meth:`_masks`.
        """
        points = self.point_grids[layer] * np.array(crop_size)[None, ::-1]
        coords = torch.as_tensor(self.transform.apply_coords(points, crop_size),
                                 device=self.device)
        batch_size = self.settings['points_per_batch']
        parts = [self._process_batch(features, coords[i:i + batch_size],
                                     points[i:i + batch_size], input_size, crop_size, crop_box,
                                     orig_size)
                 for i in range(0, len(points), batch_size)] or [self._no_masks(features)]
        result = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
        keep = box_nms(result['boxes'], result['iou_preds'], self.settings['box_nms_thresh'])
        result = {key: value[keep.to(value.device)] for key, value in result.items()}
        x0, y0, x1, y1 = crop_box
        result['boxes'] = result['boxes'] + torch.as_tensor([x0, y0, x0, y0],
                                                            device=self.device)
        result['points'] = result['points'] + torch.as_tensor([x0, y0], dtype=torch.float64)
        result['crop_area'] = torch.full((len(keep), ), float((x1 - x0) * (y1 - y0)),
                                         device=self.device)
        result['crop'] = (input_size, crop_size, crop_box)
        return result

    def _process_batch(self, features: torch.Tensor, coords: torch.Tensor, points: np.ndarray,
                       input_size: Tuple[int, int], crop_size: Tuple[int, int],
                       crop_box: List[int], orig_size: Tuple[int, int]) -> dict:
        """One prompt batch: decode, IoU filter, stability filter, boxes, crop-edge filter."""
        model, settings = self.model, self.settings
        labels = torch.ones(len(coords), dtype=torch.int, device=self.device)
        with self._autocast():
            sparse, dense = model.prompt_encoder(points=(coords[:, None], labels[:, None]),
                                                 boxes=None, masks=None)
            low_res, iou_preds = model.mask_decoder(
                image_embeddings=features, image_pe=model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=True)
        num_outputs = low_res.shape[1]
        low_res, iou_preds = low_res.float().flatten(0, 1), iou_preds.float().flatten(0, 1)
        point_xy = torch.as_tensor(points).repeat_interleave(num_outputs, 0)
        if settings['pred_iou_thresh'] > 0:
            keep = iou_preds > settings['pred_iou_thresh']
            low_res, iou_preds, point_xy = low_res[keep], iou_preds[keep], point_xy[keep.cpu()]
        stability, boxes = self._score_masks(low_res, input_size, crop_size)
        keep = ~boxes_near_crop_edge(boxes, crop_box, [0, 0, orig_size[1], orig_size[0]])
        if settings['stability_score_thresh'] > 0:
            keep &= stability >= settings['stability_score_thresh']
        return dict(low_res=low_res[keep], boxes=boxes[keep], iou_preds=iou_preds[keep],
                    stability=stability[keep], points=point_xy[keep.cpu()])

    def _no_masks(self, features: torch.Tensor) -> dict:
        """An empty :meth:`_process_batch` result (a crop layer with no grid points)."""
        size = 4 * features.shape[-1]
        return dict(low_res=torch.zeros(0, size, size, device=self.device),
                    boxes=torch.zeros(0, 4, dtype=torch.int64, device=self.device),
                    iou_preds=torch.zeros(0, device=self.device),
                    stability=torch.zeros(0, device=self.device),
                    points=torch.zeros(0, 2, dtype=torch.float64))

    def _upsample(self, low_res: torch.Tensor, input_size: Tuple[int, int],
                  crop_size: Tuple[int, int]):
        """Full-size logits of ``(K, h, w)`` low-res logits, in chunks (SAM's upsampling)."""
        budget = UPSAMPLE_CHUNK_ELEMENTS.get(self.device.type, 2**24)
        size = self.model.image_encoder.img_size
        chunk = max(1, budget // max(size * size, crop_size[0] * crop_size[1]))
        for start in range(0, len(low_res), chunk):
            yield self.model.postprocess_masks(low_res[start:start + chunk, None], input_size,
                                               crop_size)[:, 0]

    def _score_masks(self, low_res: torch.Tensor, input_size: Tuple[int, int],
                     crop_size: Tuple[int, int]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Stability scores ``(K,)`` and XYXY boxes ``(K, 4)`` (crop frame) of the masks."""
        stability, boxes = [], []
        threshold, offset = self.model.mask_threshold, self.settings['stability_score_offset']
        for logits in self._upsample(low_res, input_size, crop_size):
            chunk_stability, chunk_boxes = stability_and_boxes(logits, threshold, offset)
            stability.append(chunk_stability)
            boxes.append(chunk_boxes)
        if not stability:
            return (torch.zeros(0, device=self.device),
                    torch.zeros(0, 4, dtype=torch.int64, device=self.device))
        return torch.cat(stability), torch.cat(boxes)

    def _masks(self, low_res: torch.Tensor, crop: tuple, orig_size: Tuple[int, int]):
        """``(K, H, W) bool`` image-frame masks of one crop's low-res logits, in chunks."""
        input_size, crop_size, (x0, y0, x1, y1) = crop
        height, width = orig_size
        for logits in self._upsample(low_res, input_size, crop_size):
            masks = logits > self.model.mask_threshold
            if (x0, y0, x1, y1) != (0, 0, width, height):
                masks = torch.nn.functional.pad(masks, (x0, width - x1, y0, height - y1),
                                                value=False)
            yield masks

    def _finish_image(self, parts: List[dict], orig_size: Tuple[int, int]) -> MaskSet:
        """NMS between crops (smaller crops win), masks of the survivors, small-region
        clean-up, MaskSet (SAM's ``_generate_masks`` tail and ``postprocess_small_regions``)."""
        crop_index = torch.cat([torch.full((len(part['boxes']), ), i, dtype=torch.int64)
                                for i, part in enumerate(parts)])
        result = {key: torch.cat([part[key] for part in parts])
                  for key in ('boxes', 'iou_preds', 'stability', 'points', 'crop_area')}
        order = torch.arange(len(crop_index))
        if len(parts) > 1:
            order = box_nms(result['boxes'], 1 / result['crop_area'],
                            self.settings['crop_nms_thresh']).cpu()
            result = {key: value[order.to(value.device)] for key, value in result.items()}
        # Masks of the survivors only, crop by crop; `position` is each one's final index.
        min_area = self.settings['min_mask_region_area']
        runs_parts, boxes_parts, unchanged_parts, position = [], [], [], []
        kept_crop = crop_index[order]
        firsts = np.cumsum([0] + [len(part['boxes']) for part in parts])
        for i, part in enumerate(parts):
            selected = (kept_crop == i).nonzero()[:, 0]
            position.append(selected.numpy())
            local = (order[selected] - firsts[i]).to(self.device)
            for masks in self._masks(part['low_res'][local], part['crop'], orig_size):
                if min_area > 0:
                    cleaned = [clean_small_regions(mask, min_area)
                               for mask in masks.cpu().numpy()]
                    masks = torch.as_tensor(np.stack([mask for mask, _ in cleaned]))
                    unchanged = np.array([same for _, same in cleaned], np.float32)
                    boxes_parts.append(masks_to_boxes_xyxy(masks))
                    unchanged_parts.append(unchanged)
                runs_parts.append(masks_to_runs_torch(masks))
        position = np.concatenate(position)
        final_order = np.empty_like(position)
        final_order[position] = np.arange(len(position))
        if min_area > 0 and len(final_order):
            # Re-run NMS, preferring masks the clean-up left unchanged.
            boxes = torch.cat(boxes_parts)[torch.as_tensor(final_order)]
            unchanged = torch.as_tensor(np.concatenate(unchanged_parts)[final_order])
            keep = box_nms(boxes, unchanged, max(self.settings['box_nms_thresh'],
                                                 self.settings['crop_nms_thresh']))
            result = {key: value[keep.to(value.device)] for key, value in result.items()}
            final_order = final_order[keep.numpy()]
        runs, offsets = select_runs(*concat_runs(runs_parts), final_order)
        height, width = orig_size
        return MaskSet.from_runs(
            runs, offsets, height, width, self.mask_source, dict(self.settings),
            predicted_iou=result['iou_preds'].cpu().numpy(),
            stability_score=result['stability'].cpu().numpy(),
            point_coords=result['points'].numpy())

