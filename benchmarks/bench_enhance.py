"""SEPL merge benchmark: our run-length merge against the paper's public merge code.

    .venv/bin/python benchmarks/bench_enhance.py [--num-images 30] [--masks-per-image 150]
        [--data-root ../shared/data/voc_mini] [--repeats 3]

Images: voc_mini train ids with their TransCAM CAM labels (``pseudo_labels/transcam/``).
There are no SAM weights here, so every image gets ~150 SAM-like masks from other sources:
GT connected components (an oracle), halves of the object components, and SLIC/Felzenszwalb
superpixels at several scales, so masks overlap and come at several granularities. They are
written once per run to a temporary directory, both as segment-anything's ``amg.py`` folder
layout and as a mask store, and are labelled ``MASK_SOURCE`` (not SAM) everywhere.

Measured (best of ``--repeats`` wall times, ms per image):
  the paper code's merge end to end (read CAM PNG, read mask PNGs, merge, write PNG), the
  baseline; ``tools/enhance_pseudo_labels.py`` on the amg folder with 1 and 2 workers, with
  mask reading and the merge alone beside it; the tool on the mask store; the online
  ``LoadSAMMasks`` + ``SAMEnhancePseudoLabel`` transforms on one core. Every output is compared
  with the baseline's pixel for pixel; any difference makes the run exit 1. Timings are
  printed, not asserted; the issue's targets are printed next to them.
"""
import argparse
import contextlib
import functools
import importlib.util
import io
import os
import os.path as osp
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.segmentation import felzenszwalb, slic

BENCH_DIR = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(BENCH_DIR)
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, BENCH_DIR)

from common import best_time, machine_description  # noqa: E402
from sepl_reference import sepl_reference_file, sepl_reference_merge  # noqa: E402

from mmseg_sam_wsss.core.io import read_label_png, write_label_png  # noqa: E402
from mmseg_sam_wsss.core.mask_store import (MaskSet, MaskStore, read_amg_folder,  # noqa: E402
                                            write_amg_folder)
from mmseg_sam_wsss.core.merge import enhance_pseudo_label  # noqa: E402

MASK_SOURCE = 'oracle components + superpixels, not SAM'
REFERENCE_NAME = 'paper code (cskyl/SAM_WSSS max_iou_imp2)'
MIN_MASK_AREA = 64  # pixels; smaller pieces are dropped, as amg.py's min_mask_region_area would


def sam_like_masks(gt: np.ndarray, image: np.ndarray, count: int = 150) -> Tuple[np.ndarray,
                                                                                  Dict[str, int]]:
    """About ``count`` overlapping class-agnostic masks of one image, NOT from SAM.

    Oracle GT connected components of every class (background included), the four halves
    (left/right, top/bottom of the box) of every object component, then SLIC superpixels
    (coarse, medium) and Felzenszwalb segments until ``count`` masks; the finest level is
    subsampled deterministically to fill exactly ``count`` when it has enough pieces.

    Args:
        gt (np.ndarray): ``(H, W) uint8`` ground truth (255 ignored).
        image (np.ndarray): ``(H, W, 3) uint8`` RGB image.
        count (int): Masks wanted.

    Returns:
        tuple: ``(N, H, W) bool`` masks and ``{kind: number}`` of each kind.
    """
    masks, kinds = [], {'oracle components': 0, 'component halves': 0, 'superpixels': 0}
    for class_id in np.unique(gt):
        if class_id == 255:
            continue
        components, number = ndimage.label(gt == class_id)
        for index in range(1, number + 1):
            component = components == index
            if component.sum() < MIN_MASK_AREA:
                continue
            masks.append(component)
            kinds['oracle components'] += 1
            if class_id == 0 or len(masks) >= count:
                continue
            rows, cols = np.nonzero(component)
            row_mid = (rows.min() + rows.max() + 1) // 2
            col_mid = (cols.min() + cols.max() + 1) // 2
            for region in (np.s_[:row_mid, :], np.s_[row_mid:, :], np.s_[:, :col_mid],
                           np.s_[:, col_mid:]):
                part = np.zeros_like(component)
                part[region] = component[region]
                if part.sum() >= MIN_MASK_AREA:
                    masks.append(part)
                    kinds['component halves'] += 1
    masks = masks[:count]
    remaining = count - len(masks)
    levels = [slic(image, n_segments=max(4, remaining // 10), compactness=10, start_label=0),
              slic(image, n_segments=max(8, remaining // 4), compactness=10, start_label=0),
              felzenszwalb(image, scale=100, sigma=0.8, min_size=MIN_MASK_AREA)]
    for level, segments in enumerate(levels):
        pieces = [segments == label for label in range(segments.max() + 1)]
        pieces = [piece for piece in pieces if piece.sum() >= MIN_MASK_AREA]
        room = count - len(masks)
        if level == len(levels) - 1 and len(pieces) > room:
            keep = np.random.default_rng(0).choice(len(pieces), room, replace=False)
            pieces = [pieces[index] for index in sorted(keep)]
        pieces = pieces[:room]
        masks += pieces
        kinds['superpixels'] += len(pieces)
    return np.stack(masks), kinds


def _prepare_one(image_id: str, data_root: str, count: int, amg_dir: str,
                 store_dir: str) -> Dict[str, float]:
    gt = read_label_png(osp.join(data_root, 'SegmentationClass', image_id + '.png'))
    with Image.open(osp.join(data_root, 'JPEGImages', image_id + '.jpg')) as image:
        rgb = np.asarray(image.convert('RGB'))
    masks, kinds = sam_like_masks(gt, rgb, count)
    mask_set = MaskSet.from_masks(masks, MASK_SOURCE, {'generator': 'bench_enhance.py'})
    MaskStore(store_dir, source=MASK_SOURCE).write(image_id, mask_set)
    write_amg_folder(amg_dir, image_id, mask_set)
    return dict(kinds, masks=len(mask_set),
                area_share=mask_set.areas.mean() / (mask_set.height * mask_set.width))


def prepare_masks(data_root: str, ids: Sequence[str], count: int, amg_dir: str,
                  store_dir: str) -> Dict[str, float]:
    """Write every id's SAM-like masks as an amg.py folder and into a mask store (all cores).

    Returns:
        dict: Per-image means of the mask counts (by kind) and of the mean mask area share.
    """
    MaskStore(store_dir, create=True, source=MASK_SOURCE)
    prepare = functools.partial(_prepare_one, data_root=data_root, count=count,
                                amg_dir=amg_dir, store_dir=store_dir)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        per_image = list(pool.map(prepare, ids))
    return {key: float(np.mean([stats[key] for stats in per_image])) for key in per_image[0]}


def load_tool():
    path = osp.join(REPO_ROOT, 'tools', 'enhance_pseudo_labels.py')
    spec = importlib.util.spec_from_file_location('enhance_pseudo_labels', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FreshDirs:
    """New empty output directories under ``root`` (the tool skips finished outputs)."""

    def __init__(self, root: str) -> None:
        self.root, self.counter = root, 0

    def __call__(self, name: str) -> str:
        self.counter += 1
        path = osp.join(self.root, f'{name}_{self.counter}')
        os.makedirs(path)
        return path


def timed_runs(run: Callable[[str], None], fresh: FreshDirs, name: str,
               repeats: int) -> Tuple[float, str]:
    """Best wall time of ``run(out_dir)`` over ``repeats`` fresh output dirs, and the last dir."""
    outs: List[str] = []

    def once() -> None:
        outs.append(fresh(name))
        run(outs[-1])

    seconds, _ = best_time(once, repeats)
    for old in outs[:-1]:
        shutil.rmtree(old)
    return seconds, outs[-1]


def tool_runner(tool, pseudo_dir: str, masks: str, ids_file: str,
                workers: int) -> Callable[[str], None]:
    def run(out_dir: str) -> None:
        argv = ['--pseudo-dir', pseudo_dir, '--masks', masks, '--out', out_dir, '--ids',
                ids_file, '--workers', str(workers)]
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            code = tool.main(argv)
        if code:
            raise RuntimeError(f'enhance_pseudo_labels.py exited {code}:\n{sink.getvalue()}')

    return run


def decode_all_pngs(amg_dir: str, ids: Sequence[str]) -> None:
    """Decode every mask PNG of ``ids`` once with PIL: the floor of any amg-folder reader."""
    for image_id in ids:
        folder = osp.join(amg_dir, image_id)
        for name in os.listdir(folder):
            if name.endswith('.png'):
                with Image.open(osp.join(folder, name)) as image:
                    np.asarray(image)


def count_reference_decodes(labels: Sequence[np.ndarray], amg_dir: str,
                            ids: Sequence[str]) -> int:
    """How many mask PNGs the reference merge opens for ``ids`` (an untimed, counted run)."""
    opened = [0]
    original_open = Image.open

    def counting_open(*args, **kwargs):
        opened[0] += 1
        return original_open(*args, **kwargs)

    Image.open = counting_open
    try:
        for image_id, label in zip(ids, labels):
            sepl_reference_merge(label, osp.join(amg_dir, image_id))
    finally:
        Image.open = original_open
    return opened[0]


def read_png(path: str) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def count_identical(ids: Sequence[str], reference_dir: str,
                    outputs: Callable[[str], np.ndarray]) -> int:
    return sum(np.array_equal(read_png(osp.join(reference_dir, i + '.png')), outputs(i))
               for i in ids)


@contextlib.contextmanager
def one_core():
    """Pin this process to one CPU while inside (where the OS allows it)."""
    if not hasattr(os, 'sched_getaffinity'):
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default=osp.join(REPO_ROOT, '..', 'shared', 'data',
                                                        'voc_mini'),
                        help='VOC-layout data with pseudo_labels/transcam (default: '
                        '../shared/data/voc_mini next to the repository)')
    parser.add_argument('--num-images', type=int, default=30, help='train ids to use (30)')
    parser.add_argument('--masks-per-image', type=int, default=150, help='masks per image (150)')
    parser.add_argument('--repeats', type=int, default=3, help='best of N wall times (3)')
    parser.add_argument('--tmp-dir', default=None,
                        help='where the timed outputs are written (default: the system temp '
                        'dir); its fsync cost is part of the tool\'s end-to-end time')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    data_root = osp.abspath(args.data_root)
    pseudo_dir = osp.join(data_root, 'pseudo_labels', 'transcam')
    ids_path = osp.join(data_root, 'ImageSets', 'Segmentation', 'train.txt')
    if not (osp.isfile(ids_path) and osp.isdir(pseudo_dir)):
        print(f'error: {data_root} is not voc_mini (needs ImageSets/Segmentation/train.txt and '
              'pseudo_labels/transcam/); pass --data-root', file=sys.stderr)
        return 2
    with open(ids_path, encoding='utf-8') as handle:
        ids = [line.strip() for line in handle if line.strip()]
    ids = [i for i in ids if osp.isfile(osp.join(pseudo_dir, i + '.png'))][:args.num_images]
    if not ids:
        print(f'error: no train ids with CAM labels in {pseudo_dir}', file=sys.stderr)
        return 2
    print('SEPL merge benchmark (benchmarks/bench_enhance.py)')
    print(f'machine: {machine_description()}')
    output_root = tempfile.mkdtemp(prefix='bench_enhance_out_', dir=args.tmp_dir)
    shm = '/dev/shm'
    input_root = (tempfile.mkdtemp(prefix='bench_enhance_in_', dir=shm)
                  if osp.isdir(shm) and os.access(shm, os.W_OK) else output_root)
    try:
        return run_benchmark(args, data_root, pseudo_dir, ids, input_root, output_root)
    finally:
        shutil.rmtree(output_root, ignore_errors=True)
        shutil.rmtree(input_root, ignore_errors=True)


def run_benchmark(args, data_root: str, pseudo_dir: str, ids: List[str], input_root: str,
                  output_root: str) -> int:
    amg_dir, store_dir = osp.join(input_root, 'amg'), osp.join(input_root, 'store')
    ids_file = osp.join(input_root, 'ids.txt')
    with open(ids_file, 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(ids) + '\n')
    start = time.perf_counter()
    stats = prepare_masks(data_root, ids, args.masks_per_image, amg_dir, store_dir)
    print(f'data: {len(ids)} voc_mini train ids, CAM labels pseudo_labels/transcam, '
          f'{read_label_png(osp.join(pseudo_dir, ids[0] + ".png")).shape} first image (HxW)')
    print(f'masks: {MASK_SOURCE}; {stats["masks"]:.1f} per image (oracle components '
          f'{stats["oracle components"]:.1f}, component halves {stats["component halves"]:.1f},'
          f' superpixels {stats["superpixels"]:.1f}), mean mask area '
          f'{100 * stats["area_share"]:.1f}% of the image; written as amg.py folders and a '
          f'mask store in {time.perf_counter() - start:.1f} s')
    print(f'files: masks in {input_root} (read from the page cache in every timed run), '
          f'outputs in {output_root}; ours write atomically (temp file, fsync, rename) like '
          'every tool of the package, the reference with a plain PIL save')
    print(f'timings: best of {args.repeats}, ms per image over {len(ids)} images; 1-min load '
          f'average before timing {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores')
    fresh = FreshDirs(output_root)
    tool = load_tool()
    count = len(ids)

    def per_image(seconds: float) -> float:
        return 1000 * seconds / count

    # Baseline: the paper's code end to end.
    def run_reference(out_dir: str) -> None:
        for image_id in ids:
            sepl_reference_file(image_id, pseudo_dir, amg_dir, out_dir)

    reference_s, reference_dir = timed_runs(run_reference, fresh, 'reference', args.repeats)
    # Ours through the tool: amg folder with 1 and 2 workers, then the mask store.
    amg1_s, amg1_dir = timed_runs(tool_runner(tool, pseudo_dir, amg_dir, ids_file, 1), fresh,
                                  'amg_w1', args.repeats)
    amg2_s, amg2_dir = timed_runs(tool_runner(tool, pseudo_dir, amg_dir, ids_file, 2), fresh,
                                  'amg_w2', args.repeats)
    store_s, store_dir_out = timed_runs(tool_runner(tool, pseudo_dir, store_dir, ids_file, 1),
                                        fresh, 'store_w1', args.repeats)
    # The parts of the amg path: reading the mask PNGs into run lengths, and the merge alone.
    amg_read_s, mask_sets = best_time(lambda: [read_amg_folder(amg_dir, i) for i in ids],
                                      args.repeats)
    labels = [read_label_png(osp.join(pseudo_dir, i + '.png'), num_classes=21) for i in ids]
    merge_s, merged = best_time(
        lambda: [enhance_pseudo_label(label, masks) for label, masks in zip(labels, mask_sets)],
        args.repeats)
    write_s, _ = timed_runs(
        lambda out_dir: [write_label_png(osp.join(out_dir, i + '.png'), label)
                         for i, label in zip(ids, merged)], fresh, 'write', args.repeats)
    decode_s, _ = best_time(lambda: decode_all_pngs(amg_dir, ids), args.repeats)
    reference_decodes = count_reference_decodes(labels, amg_dir, ids)
    store = MaskStore(store_dir)
    store_read_s, _ = best_time(lambda: [store.read(i) for i in ids], args.repeats)
    # The online transforms on one core, the store read included.
    from mmseg_sam_wsss.datasets.transforms.sam_masks import (LoadSAMMasks,
                                                              SAMEnhancePseudoLabel)
    load, enhance = LoadSAMMasks(mask_root=store_dir), SAMEnhancePseudoLabel()
    inputs = [{'img_path': osp.join(data_root, 'JPEGImages', i + '.jpg'),
               'seg_map_path': osp.join(pseudo_dir, i + '.png'), 'gt_seg_map': label}
              for i, label in zip(ids, labels)]
    load(dict(inputs[0]))  # opens the store once, as the first sample of a dataloader would
    with one_core():
        transform_s, transformed = best_time(
            lambda: [enhance(load(dict(results)))['gt_seg_map'] for results in inputs],
            args.repeats)

    # Parity with the baseline, pixel for pixel.
    by_id = dict(zip(ids, range(count)))
    parity = [
        ('ours, amg folder, 1 worker', count_identical(
            ids, reference_dir, lambda i: read_png(osp.join(amg1_dir, i + '.png')))),
        ('ours, amg folder, 2 workers', count_identical(
            ids, reference_dir, lambda i: read_png(osp.join(amg2_dir, i + '.png')))),
        ('ours, mask store', count_identical(
            ids, reference_dir, lambda i: read_png(osp.join(store_dir_out, i + '.png')))),
        ('ours, merge only', count_identical(ids, reference_dir, lambda i: merged[by_id[i]])),
        ('online transforms', count_identical(ids, reference_dir,
                                              lambda i: transformed[by_id[i]])),
    ]
    print('parity with the paper-code reference (identical images / images):')
    for name, identical in parity:
        print(f'  {name:<32} {identical}/{count}')

    reference_ms = per_image(reference_s)
    rows = [
        (REFERENCE_NAME + ', amg folder, end to end', reference_ms, '1.0x', 'baseline'),
        ('ours, amg folder, 1 worker, end to end (tool)', per_image(amg1_s),
         f'{reference_s / amg1_s:.1f}x', '>= 2x'),
        ('  of which: read mask PNGs -> run lengths', per_image(amg_read_s), '', ''),
        ('    of which: PNG decoding alone (PIL, each mask once)', per_image(decode_s), '',
         ''),
        ('  merge only (enhance_pseudo_label)', per_image(merge_s), '', 'negligible'),
        ('  write the output PNG (atomic, fsync)', per_image(write_s), '', ''),
        ('ours, amg folder, 2 workers, end to end (tool)', per_image(amg2_s),
         f'{reference_s / amg2_s:.1f}x', f'scaling 1->2 workers {amg1_s / amg2_s:.2f}x'),
        ('ours, mask store, 1 worker, end to end (tool)', per_image(store_s),
         f'{reference_s / store_s:.1f}x', '>= 10x'),
        ('  of which: read the mask store', per_image(store_read_s), '', ''),
        ('online LoadSAMMasks + SAMEnhancePseudoLabel, 1 core', per_image(transform_s),
         f'{reference_s / transform_s:.1f}x', '<= 20 ms'),
    ]
    print(f'{"":<70} {"ms/image":>9} {"speed-up":>9}  target')
    for name, ms, speedup, target in rows:
        print(f'{name:<70} {ms:>9.1f} {speedup:>9}  {target}')
    print(f'1-min load average after timing {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores '
          '(other jobs on the machine take cores from the 2-worker run)')
    classes = np.mean([len(np.setdiff1d(np.unique(label), [0, 255])) for label in labels])
    print(f'mask PNG decodes per image: reference {reference_decodes / count:.0f} (every '
          f'untaken mask once per class, {classes:.2f} classes per CAM label), ours '
          f'{stats["masks"]:.0f}; decoding alone bounds the amg-folder speed-up at '
          f'{reference_s / decode_s:.1f}x here')
    mismatches = sum(count - identical for _, identical in parity)
    if mismatches:
        print(f'FAIL: {mismatches} outputs differ from the reference', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
