"""COCO 2014 at scale, on paper, from per-image numbers measured here: mask-store bytes, SEPL
merge time and a random-init SAM's CPU time per image at COCO's image size, extrapolated to the
82,081 train2014 images.

    .venv/bin/python benchmarks/bench_coco_scale.py [--num-images 20] [--masks-per-image 100]
        [--size 640 480] [--data-root ../shared/data/voc_mini] [--repeats 3]
        [--sam-model-type vit_b] [--sam-images 1] [--sam-points-per-side 32]
        [--sam-repeats 1] [--threads 2] [--skip-sam-timing] [--amg-seconds-per-image S]

Images: voc_mini train ids with their TransCAM CAM labels, resized to ``--size`` (COCO's usual
640x480; nearest for labels). There are no SAM weights here, so each image gets
``--masks-per-image`` SAM-like masks from GT components, object halves and superpixels
(``bench_enhance.sam_like_masks``), NOT SAM: their run-length size is close to SAM's smooth
masks, but a real store should be measured again (``tools/mask_store.py verify`` prints its
size). Measured per image: the ``.samm`` file size, and the best of ``--repeats`` for reading
it and merging it into the CAM label (one core, ``enhance_pseudo_label``, what
``SAMEnhancePseudoLabel`` does online and ``tools/enhance_pseudo_labels.py`` offline).

Mask generation on this CPU, architecture only: up to the post-processing, the cost of SAM's
automatic masks does not depend on the weights' values, so a full-size random-init SAM
(``--sam-model-type``, default vit_b; NOT SAM masks) is timed on the first ``--sam-images`` of
those images with the project's ``FastAutomaticMaskGenerator`` (fp32, thresholds off, one
image per encoder batch): (a) the image encoder (``encode``, 1024x1024 input) and (b) the
prompt decoding of the 32x32 grid (``--sam-points-per-side``) in ``_process_crop``: 1024
points in batches of 64 (segment_anything's ``points_per_batch``), 3 masks each, through the
prompt encoder and mask decoder (timed apart with forward hooks), then all 3072 mask logits
upsampled to the image as SAM does, stability scores, boxes and box NMS. With the thresholds
off every mask is upsampled and, the random logits being near 0, every row is scanned: an
upper bound of that step with SAM's weights (segment_anything's generator upsamples all masks
too; ours only those above ``pred_iou_thresh``). Left out, because it depends on the weights
(how many masks survive the thresholds and NMS): the survivors' masks, run-length encoding,
small-region clean-up and writing. One CPU worker runs ``--threads`` torch threads (2 here: a
core pair); workers scale ideally on paper. Best of ``--sam-repeats``, no warm-up;
``--skip-sam-timing`` leaves the timing out.
Per GPU it is not measured here (no GPU, no SAM weights): pass the seconds per image that
``benchmarks/bench_sam_amg.py --checkpoint sam_vit_h_4b8939.pth --device cuda`` measures on
your GPU as ``--amg-seconds-per-image`` to have it extrapolated too.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np
from PIL import Image

BENCH_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(BENCH_DIR)
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, BENCH_DIR)

from bench_enhance import MASK_SOURCE, sam_like_masks  # noqa: E402
from common import best_time, machine_description  # noqa: E402

from mmseg_sam_wsss.core.io import read_ids, read_label_png  # noqa: E402
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore  # noqa: E402
from mmseg_sam_wsss.core.merge import enhance_pseudo_label  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.sam.builder import MODEL_TYPES  # noqa: E402

COCO_TRAIN_IMAGES = 82081
WORKERS = (1, 8, 32)
GPUS = (1, 8)
POINTS_PER_BATCH = 64  # segment_anything's SamAutomaticMaskGenerator default


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-root', default=osp.join(REPO_ROOT, '..', 'shared', 'data',
                                                        'voc_mini'))
    parser.add_argument('--num-images', type=int, default=20)
    parser.add_argument('--masks-per-image', type=int, default=100)
    parser.add_argument('--size', type=int, nargs=2, default=(640, 480), metavar=('W', 'H'))
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--amg-seconds-per-image', type=float, default=None,
                        help='mask generation time per image on one GPU, measured elsewhere')
    parser.add_argument('--sam-model-type', default='vit_b', choices=MODEL_TYPES,
                        help='random-init SAM whose architecture is timed (tiny: tests only)')
    parser.add_argument('--sam-images', type=int, default=1,
                        help='images (the first of --num-images) SAM is timed on')
    parser.add_argument('--sam-points-per-side', type=int, default=32,
                        help="grid points per image side (SAM's default 32; fewer in tests)")
    parser.add_argument('--sam-repeats', type=int, default=1,
                        help='timed runs of each SAM stage (the best is kept)')
    parser.add_argument('--threads', type=int, default=2,
                        help='torch threads of the SAM timing, one CPU worker')
    parser.add_argument('--skip-sam-timing', action='store_true',
                        help='leave out the random-init SAM timing')
    args = parser.parse_args(argv)
    if not args.skip_sam_timing and not 1 <= args.sam_images <= args.num_images:
        raise SamWsssError(f'--sam-images {args.sam_images}: SAM is timed on the first of the '
                           f'--num-images {args.num_images} images; use 1 to {args.num_images}')
    if min(args.sam_repeats, args.threads, args.sam_points_per_side) < 1:
        raise SamWsssError('--sam-repeats, --threads and --sam-points-per-side must be >= 1')
    return args


def resized(array: np.ndarray, size, nearest: bool) -> np.ndarray:
    return np.asarray(Image.fromarray(array).resize(
        tuple(size), Image.NEAREST if nearest else Image.BILINEAR))


def hours(seconds: float) -> str:
    return f'{seconds / 3600:.2f} h'


def time_random_sam(model_type: str, images: list, threads: int, repeats: int,
                    points_per_side: int = 32) -> dict:
    """Seconds per image of a random-init SAM's encoder and grid decoding (NOT SAM masks).

    Args:
        model_type (str): ``'vit_b'``, ``'vit_l'``, ``'vit_h'`` or ``'tiny'`` (tests only).
        images (list[np.ndarray]): ``(H, W, 3) uint8`` RGB images.
        threads (int): torch intra-op threads.
        repeats (int): Timed runs of each stage per image; the best is kept.
        points_per_side (int): Prompt grid points per image side. Default: 32 (SAM's).

    Returns:
        dict: Means over the images of the wall seconds ``encoder``, ``decoding`` (all of it),
        ``decoder`` (prompt encoder + mask decoder, part of ``decoding``), plus ``cpu_ratio``
        (process CPU seconds / wall seconds over all runs), ``masks`` (decoded per image),
        ``threads`` and ``load`` (1-minute load average before and after).
    """
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _time_random_sam(model_type, images, repeats, points_per_side)
    finally:
        torch.set_num_threads(previous_threads)


def _time_random_sam(model_type: str, images: list, repeats: int,
                     points_per_side: int) -> dict:
    """:func:`time_random_sam` with the torch threads already set."""
    import torch
    from mmseg_sam_wsss.sam.automatic_mask_generator import FastAutomaticMaskGenerator
    from mmseg_sam_wsss.sam.builder import build_sam

    torch.manual_seed(0)
    model = build_sam(model_type, random_init=True)
    # Thresholds off: every mask is upsampled and scored, whatever the weights.
    generator = FastAutomaticMaskGenerator(
        model, points_per_side=points_per_side, points_per_batch=POINTS_PER_BATCH,
        pred_iou_thresh=0.0, stability_score_thresh=0.0, image_batch_size=1)
    clock = dict(start=0.0, decoder=0.0)  # prompt encoder + mask decoder, by forward hooks

    def start_decoder(module, inputs):
        clock['start'] = time.perf_counter()

    def stop_decoder(module, inputs, outputs):
        clock['decoder'] += time.perf_counter() - clock['start']

    hooks = [model.prompt_encoder.register_forward_pre_hook(start_decoder),
             model.mask_decoder.register_forward_hook(stop_decoder)]
    load_before = os.getloadavg()[0]
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    encoder, decoding, decoder = [], [], []
    for image in images:
        height, width = image.shape[:2]
        seconds, (features, input_sizes) = best_time(lambda: generator.encode([image]),
                                                     repeats)
        encoder.append(seconds)
        decoding.append(float('inf'))
        decoder.append(float('inf'))
        for _ in range(repeats):
            clock['decoder'] = 0.0
            start = time.perf_counter()
            with torch.no_grad():  # the generator's own grid decoding of one whole-image crop
                generator._process_crop(features, input_sizes[0], (height, width),
                                        [0, 0, width, height], 0, (height, width))
            seconds = time.perf_counter() - start
            if seconds < decoding[-1]:
                decoding[-1], decoder[-1] = seconds, clock['decoder']
    cpu_ratio = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    for hook in hooks:
        hook.remove()
    return dict(encoder=float(np.mean(encoder)), decoding=float(np.mean(decoding)),
                decoder=float(np.mean(decoder)), cpu_ratio=cpu_ratio,
                masks=len(generator.point_grids[0]) * model.mask_decoder.num_multimask_outputs,
                threads=torch.get_num_threads(), load=(load_before, os.getloadavg()[0]))


def main(argv=None) -> int:
    args = parse_args(argv)
    ids = read_ids(osp.join(args.data_root, 'ImageSets', 'Segmentation',
                            'train.txt'))[:args.num_images]
    sizes, merge_seconds, mask_counts, sam_images = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp_dir:
        store = MaskStore(osp.join(tmp_dir, 'store'), create=True, source=MASK_SOURCE)
        cams = {}
        for image_id in ids:
            image = np.asarray(Image.open(osp.join(args.data_root, 'JPEGImages',
                                                   image_id + '.jpg')).convert('RGB'))
            gt = read_label_png(osp.join(args.data_root, 'SegmentationClass', image_id + '.png'))
            cam = read_label_png(osp.join(args.data_root, 'pseudo_labels', 'transcam',
                                          image_id + '.png'))
            image = resized(image, args.size, nearest=False)
            if len(sam_images) < args.sam_images:
                sam_images.append(image)
            gt, cams[image_id] = resized(gt, args.size, True), resized(cam, args.size, True)
            masks, _ = sam_like_masks(gt, image, args.masks_per_image)
            store.write(image_id, MaskSet.from_masks(masks, MASK_SOURCE))
            sizes.append(osp.getsize(store.path(image_id)))
            mask_counts.append(len(masks))
        for image_id in ids:
            seconds, _ = best_time(lambda: enhance_pseudo_label(
                cams[image_id], store.read(image_id), rule='sepl', num_classes=21), args.repeats)
            merge_seconds.append(seconds)
    bytes_per_image = float(np.mean(sizes))
    merge_per_image = float(np.mean(merge_seconds))
    timing = None if args.skip_sam_timing else time_random_sam(
        args.sam_model_type, sam_images, args.threads, args.sam_repeats,
        args.sam_points_per_side)
    print(f'machine: {machine_description()}')
    print(f'{len(ids)} voc_mini images at {args.size[0]}x{args.size[1]}, '
          f'{np.mean(mask_counts):.0f} masks each ({MASK_SOURCE})')
    print(f'measured per image: store {bytes_per_image / 1024:.1f} KiB '
          f'({bytes_per_image / np.mean(mask_counts):.0f} B/mask); store read + SEPL merge '
          f'{1000 * merge_per_image:.1f} ms (one core, best of {args.repeats})')
    sam_label = (f'random-init SAM {args.sam_model_type}: timing of the architecture only, NOT '
                 'SAM masks; post-processing excluded/depends on the weights')
    if timing is not None:
        per_image = timing['encoder'] + timing['decoding']
        print(f'{sam_label}:')
        print(f'  {len(sam_images)} image(s) at {args.size[0]}x{args.size[1]}, fp32, torch '
              f'{timing["threads"]} thread(s), best of {args.sam_repeats}, no warm-up; CPU/wall '
              f'{timing["cpu_ratio"]:.2f}; load average {timing["load"][0]:.2f} before, '
              f'{timing["load"][1]:.2f} after (other jobs may share this CPU)')
        print(f'  measured per image: (a) image encoder {timing["encoder"]:.3f} s; (b) prompt '
              f'decoding of {args.sam_points_per_side}x{args.sam_points_per_side} points in '
              f'batches of {POINTS_PER_BATCH} {timing["decoding"]:.3f} s (prompt encoder + mask '
              f'decoder {timing["decoder"]:.3f} s; {timing["masks"]} mask logits upsampled to the '
              f'image, stability, boxes, NMS {timing["decoding"] - timing["decoder"]:.3f} s); '
              f'(a) + (b) {per_image:.3f} s')
    print(f'COCO train2014, {COCO_TRAIN_IMAGES:,} images:')
    print(f'  mask store: {COCO_TRAIN_IMAGES * bytes_per_image / 1024 ** 3:.2f} GiB')
    for workers in WORKERS:
        print(f'  SEPL merge, {workers:>2} worker(s): '
              f'{hours(COCO_TRAIN_IMAGES * merge_per_image / workers)}')
    if timing is None:
        print('  mask generation on this CPU: not timed (--skip-sam-timing)')
    else:
        for workers in WORKERS:
            print(f'  mask generation (a) + (b), random-init SAM {args.sam_model_type} (NOT SAM '
                  f'masks), {workers:>2} CPU worker(s) of {timing["threads"]} threads: '
                  f'{hours(COCO_TRAIN_IMAGES * per_image / workers)}')
    if args.amg_seconds_per_image is None:
        print('  mask generation per GPU: not measured here (no GPU, no SAM weights); pass '
              '--amg-seconds-per-image from bench_sam_amg.py on a GPU')
    else:
        for gpus in GPUS:
            print(f'  mask generation at {args.amg_seconds_per_image:.2f} s/image, {gpus} '
                  f'GPU(s): {hours(COCO_TRAIN_IMAGES * args.amg_seconds_per_image / gpus)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
