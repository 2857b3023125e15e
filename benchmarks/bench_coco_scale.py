"""COCO 2014 at scale, on paper, from per-image numbers measured here: mask-store bytes and SEPL
merge time per image at COCO's image size, extrapolated to the 82,081 train2014 images.

    .venv/bin/python benchmarks/bench_coco_scale.py [--num-images 20] [--masks-per-image 100]
        [--size 640 480] [--data-root ../shared/data/voc_mini] [--repeats 3]
        [--amg-seconds-per-image S]

Images: voc_mini train ids with their TransCAM CAM labels, resized to ``--size`` (COCO's usual
640x480; nearest for labels). There are no SAM weights here, so each image gets
``--masks-per-image`` SAM-like masks from GT components, object halves and superpixels
(``bench_enhance.sam_like_masks``), NOT SAM: their run-length size is close to SAM's smooth
masks, but a real store should be measured again (``tools/mask_store.py verify`` prints its
size). Measured per image: the ``.samm`` file size, and the best of ``--repeats`` for reading
it and merging it into the CAM label (one core, ``enhance_pseudo_label``, what
``SAMEnhancePseudoLabel`` does online and ``tools/enhance_pseudo_labels.py`` offline). Mask
generation is not measured here (no GPU, no SAM weights): pass the seconds per image that
``benchmarks/bench_sam_amg.py --checkpoint sam_vit_h_4b8939.pth --device cuda`` measures on
your GPU as ``--amg-seconds-per-image`` to have it extrapolated too.
"""
import argparse
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
from common import machine_description  # noqa: E402

from mmseg_sam_wsss.core.io import read_ids, read_label_png  # noqa: E402
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore  # noqa: E402
from mmseg_sam_wsss.core.merge import enhance_pseudo_label  # noqa: E402

COCO_TRAIN_IMAGES = 82081
WORKERS = (1, 8, 32)
GPUS = (1, 8)


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
    return parser.parse_args(argv)


def resized(array: np.ndarray, size, nearest: bool) -> np.ndarray:
    return np.asarray(Image.fromarray(array).resize(
        tuple(size), Image.NEAREST if nearest else Image.BILINEAR))


def hours(seconds: float) -> str:
    return f'{seconds / 3600:.2f} h'


def main(argv=None) -> int:
    args = parse_args(argv)
    ids = read_ids(osp.join(args.data_root, 'ImageSets', 'Segmentation',
                            'train.txt'))[:args.num_images]
    sizes, merge_seconds, mask_counts = [], [], []
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
            gt, cams[image_id] = resized(gt, args.size, True), resized(cam, args.size, True)
            masks, _ = sam_like_masks(gt, image, args.masks_per_image)
            store.write(image_id, MaskSet.from_masks(masks, MASK_SOURCE))
            sizes.append(osp.getsize(store.path(image_id)))
            mask_counts.append(len(masks))
        for image_id in ids:
            best = float('inf')
            for _ in range(args.repeats):
                start = time.perf_counter()
                enhance_pseudo_label(cams[image_id], store.read(image_id), rule='sepl',
                                     num_classes=21)
                best = min(best, time.perf_counter() - start)
            merge_seconds.append(best)
    bytes_per_image = float(np.mean(sizes))
    merge_per_image = float(np.mean(merge_seconds))
    print(f'machine: {machine_description()}')
    print(f'{len(ids)} voc_mini images at {args.size[0]}x{args.size[1]}, '
          f'{np.mean(mask_counts):.0f} masks each ({MASK_SOURCE})')
    print(f'measured per image: store {bytes_per_image / 1024:.1f} KiB '
          f'({bytes_per_image / np.mean(mask_counts):.0f} B/mask); store read + SEPL merge '
          f'{1000 * merge_per_image:.1f} ms (one core, best of {args.repeats})')
    print(f'COCO train2014, {COCO_TRAIN_IMAGES:,} images:')
    print(f'  mask store: {COCO_TRAIN_IMAGES * bytes_per_image / 1024 ** 3:.2f} GiB')
    for workers in WORKERS:
        print(f'  SEPL merge, {workers:>2} worker(s): '
              f'{hours(COCO_TRAIN_IMAGES * merge_per_image / workers)}')
    if args.amg_seconds_per_image is None:
        print('  mask generation: not measured here (no GPU, no SAM weights); pass '
              '--amg-seconds-per-image from bench_sam_amg.py on a GPU')
    else:
        for gpus in GPUS:
            print(f'  mask generation at {args.amg_seconds_per_image:.2f} s/image, {gpus} '
                  f'GPU(s): {hours(COCO_TRAIN_IMAGES * args.amg_seconds_per_image / gpus)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
