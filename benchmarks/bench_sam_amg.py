"""Automatic masks: segment_anything's SamAutomaticMaskGenerator vs FastAutomaticMaskGenerator.

Both generators run in one process on the same images with the same weights and settings. The
script prints the machine, images/s of each, the speed-up, the share of the official masks that
ours reproduces (mask IoU >= 0.99, also in the same position of the list), and the mask store's
bytes against segment-anything's ``scripts/amg.py`` folder layout (one PNG per mask plus
``metadata.csv``) for the same masks.

The official generator runs with ``output_mode='uncompressed_rle'``, its cheapest output (no
mask decoding); amg.py's default, ``binary_mask``, costs it more.

Default run (under 2 minutes on 2 CPU cores): the tiny random-init test model on 4 voc_mini
images (synthetic images when voc_mini is absent), 32x32 points, fp32, one CPU thread::

    python benchmarks/bench_sam_amg.py

Random weights give masks that are NOT SAM masks; the run measures speed and agreement only.
An untrained SAM's masks all cover the whole image (box NMS keeps one per image), so by default
the random model gets ``mmseg_sam_wsss.sam.testing.add_point_disks``: a disk of logits around
each prompt point on top of its random logits, which gives local, smooth-edged masks of varied
stability, closer to the work real SAM masks make (``--plain-random`` turns it off). With random
weights the predicted-IoU threshold defaults to 0 (the random IoU head predicts about 0) and
the stability threshold stays SAM's 0.95; with a checkpoint both are SAM's (0.88, 0.95).

On the CPU, ``--threads 1`` (the default there) times both generators on one intra-op
thread: on a busy shared machine, two-thread timings of both swing by several times from run
to run. ``--threads 0`` keeps torch's default. CPU seconds per image are printed next to the
wall-clock rates.

Real SAM on a GPU (targets: >= 5x the official throughput and >= 3 images/s with ViT-H on one
H100). These numbers have NOT been measured: this script was written without a GPU, so
whoever has one measures them with::

    python benchmarks/bench_sam_amg.py --model-type vit_h \\
        --checkpoint checkpoints/sam_vit_h_4b8939.pth --device cuda --amp bf16 --num-images 20

The match rate is only meaningful with ``--amp none`` (both in fp32); with ``bf16``/``fp16``
ours computes in lower precision and some masks differ.

Memory (``--memory``): peak memory of ``FastAutomaticMaskGenerator`` per ``points_per_batch``
and ``image_batch_size`` at ViT-B and ViT-H sizes (random weights, 1024 px input, 32x32 points,
predicted-IoU filter off so every mask is upsampled: the worst case), each setting in its own
subprocess so the peaks are separate. The measure is the CPU's peak RSS (``ru_maxrss``), a
stand-in for GPU memory: the same tensors are allocated (upsampling in the GPU's chunk size),
but CUDA adds its context and its caching allocator's slack. From it, a table of suggested
settings per card size (24/40/80 GB) with the GPU figure as an ESTIMATE (fp32; see
:func:`gpu_estimate_gib`)::

    python benchmarks/bench_sam_amg.py --memory [--memory-settings vit_b:256:4 vit_h:64:1 ...]
"""
import argparse
import gc
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from segment_anything import SamAutomaticMaskGenerator

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks.common import best_time, machine_description  # noqa: E402
from mmseg_sam_wsss.core.mask_store import MaskSet, encode_mask_set, write_amg_folder  # noqa
from mmseg_sam_wsss.sam.amg_utils import mask_iou_matrix  # noqa: E402
from mmseg_sam_wsss.sam.automatic_mask_generator import FastAutomaticMaskGenerator  # noqa
from mmseg_sam_wsss.sam.builder import MODEL_TYPES, build_sam  # noqa: E402
from mmseg_sam_wsss.sam.testing import add_point_disks  # noqa: E402

VOC_MINI = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '..', 'shared', 'data',
                    'voc_mini')


# Per model type: image_batch_size values run through the image encoder, and points_per_batch
# values through the mask decoder (the same decoder for every type, so one type is enough).
# Prompting adds about 28 MiB per prompt of a batch (the image embedding repeated per prompt,
# upscaled mask features): points_per_batch 1024 needs about 28 GiB, more than a small machine's
# RAM, so it is left out by default.
MEMORY_PLAN = ('vit_b:1,2:64,128,256', 'vit_h:1:')
CARDS_GIB = (24, 40, 80)
CUDA_OVERHEAD_GIB = 1.0  # CUDA context and kernels (about 0.5-1 GiB on recent GPUs)
ALLOCATOR_SLACK = 1.25   # the caching allocator's fragmentation and rounding, a guess


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--model-type', default='tiny', choices=MODEL_TYPES)
    parser.add_argument('--checkpoint', help='official SAM checkpoint (default: random weights, '
                        'which give noise, not SAM masks)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--amp', default='none', choices=['none', 'bf16', 'fp16'],
                        help='autocast of ours (the official generator always runs in fp32)')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--points-per-side', type=int, default=32)
    parser.add_argument('--points-per-batch', type=int, default=256, help='ours (official: 64)')
    parser.add_argument('--image-batch-size', type=int, default=4, help='ours')
    parser.add_argument('--pred-iou-thresh', type=float,
                        help='default: 0.88 with a checkpoint, 0 with random weights')
    parser.add_argument('--stability-score-thresh', type=float,
                        help='default: 0.95 (SAM)')
    parser.add_argument('--crop-n-layers', type=int, default=0)
    parser.add_argument('--min-mask-region-area', type=int, default=0)
    parser.add_argument('--data-root', default=os.environ.get('VOC_MINI', VOC_MINI),
                        help='VOC-layout folder whose JPEGImages are used')
    parser.add_argument('--plain-random', action='store_true',
                        help='random weights without the point-disk logits (degenerate masks)')
    parser.add_argument('--threads', type=int,
                        help='torch intra-op threads (0: torch default). Default: 1 on the CPU, '
                        'torch default with --device cuda')
    parser.add_argument('--repeats', type=int, default=1,
                        help='timed runs of each generator (best wall time is kept)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--memory', action='store_true',
                        help='measure peak memory per setting instead (see the docstring)')
    parser.add_argument('--memory-plan', nargs='+', default=list(MEMORY_PLAN),
                        metavar='TYPE:IBS,..:PPB,..',
                        help='per model type (one subprocess each): the image_batch_size values '
                        'to encode and the points_per_batch values to prompt')
    parser.add_argument('--memory-json', help='--memory: also write the measurements here '
                        '(JSON lines)')
    parser.add_argument('--memory-from', help='print the tables from --memory-json '
                        'measurements instead of measuring')
    parser.add_argument('--memory-child', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def load_images(data_root: str, num_images: int, seed: int):
    """``num_images`` RGB uint8 images from ``data_root/JPEGImages``, else synthetic ones."""
    image_dir = osp.join(data_root, 'JPEGImages')
    if osp.isdir(image_dir):
        names = sorted(name for name in os.listdir(image_dir) if name.endswith('.jpg'))
        if len(names) >= num_images:
            images = []
            for name in names[:num_images]:
                with Image.open(osp.join(image_dir, name)) as image:
                    images.append(np.asarray(image.convert('RGB')))
            return images, f'{num_images} voc_mini images ({image_dir})'
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(num_images):
        image = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8) // 4
        for _ in range(12):  # textured rectangles and discs
            y, x = rng.integers(0, 375), rng.integers(0, 500)
            yy, xx = np.ogrid[:375, :500]
            shape = ((yy - y) ** 2 + (xx - x) ** 2 < rng.integers(20, 90) ** 2) \
                if rng.random() < 0.5 else ((abs(yy - y) < rng.integers(10, 80))
                                            & (abs(xx - x) < rng.integers(10, 80)))
            image[shape] = rng.integers(0, 256, 3) // 2 + image[shape] // 2
        images.append(image)
    return images, f'{num_images} synthetic 500x375 images (voc_mini not found at {data_root})'


def official_to_mask_set(records, height: int, width: int) -> MaskSet:
    return MaskSet.from_rles([record['segmentation'] for record in records], 'official',
                             predicted_iou=[record['predicted_iou'] for record in records],
                             stability_score=[record['stability_score'] for record in records],
                             point_coords=[record['point_coords'][0] for record in records],
                             height=height, width=width)


def folder_bytes(folder: str) -> int:
    return sum(osp.getsize(osp.join(root, name))
               for root, _, names in os.walk(folder) for name in names)


def main(args: argparse.Namespace) -> None:
    threads = args.threads if args.threads is not None else (1 if args.device == 'cpu' else 0)
    if threads > 0:
        torch.set_num_threads(threads)
    random_weights = args.checkpoint is None
    torch.manual_seed(args.seed)
    model = build_sam(args.model_type, checkpoint=args.checkpoint, random_init=random_weights,
                      device=args.device)
    disks = random_weights and not args.plain_random
    if disks:
        add_point_disks(model)
    pred_iou_thresh = args.pred_iou_thresh if args.pred_iou_thresh is not None else (
        0.0 if random_weights else 0.88)
    stability_thresh = args.stability_score_thresh if args.stability_score_thresh is not None \
        else 0.95
    settings = dict(points_per_side=args.points_per_side, pred_iou_thresh=pred_iou_thresh,
                    stability_score_thresh=stability_thresh, crop_n_layers=args.crop_n_layers,
                    min_mask_region_area=args.min_mask_region_area)
    images, image_note = load_images(args.data_root, args.num_images, args.seed)

    print(f'machine: {machine_description()}')
    print(f'model: {args.model_type}, mask source {model.mask_source!r}, device {args.device}, '
          f'threads {torch.get_num_threads()}')
    if random_weights:
        print('NOTE: random weights - these masks come from an untrained network'
              + (' plus point-centred disk logits (sam.testing.add_point_disks)' if disks else '')
              + ', NOT SAM masks; the numbers measure speed and agreement only.')
    print(f'images: {image_note}')
    print(f'settings: {settings}; official points_per_batch=64 output_mode=uncompressed_rle; '
          f'ours points_per_batch={args.points_per_batch} '
          f'image_batch_size={args.image_batch_size} amp={args.amp}')

    official = SamAutomaticMaskGenerator(model, points_per_batch=64,
                                         output_mode='uncompressed_rle', **settings)
    ours = FastAutomaticMaskGenerator(model, points_per_batch=args.points_per_batch,
                                      image_batch_size=args.image_batch_size, amp=args.amp,
                                      **settings)

    def synchronize():
        if args.device == 'cuda':
            torch.cuda.synchronize()

    def timed(function):
        """Best wall seconds of ``--repeats`` runs, mean CPU seconds, and the result."""
        def run():
            result = function()
            synchronize()
            return result
        cpu_start = time.process_time()
        seconds, result = best_time(run, repeats=args.repeats)
        return seconds, (time.process_time() - cpu_start) / args.repeats, result

    # Warm-up on a small crop (lazy initialisation, kernels), then the timed runs.
    official.generate(np.ascontiguousarray(images[0][:96, :128]))
    ours.generate_batch([np.ascontiguousarray(images[0][:96, :128])])
    synchronize()
    official_seconds, official_cpu, official_records = timed(
        lambda: [official.generate(image) for image in images])
    our_seconds, our_cpu, our_sets = timed(lambda: ours.generate_batch(images))

    matched = same_place = total = 0
    official_sets = []
    for records, our_set, image in zip(official_records, our_sets, images):
        official_set = official_to_mask_set(records, *image.shape[:2])
        official_sets.append(official_set)
        total += len(official_set)
        if len(official_set) and len(our_set):
            iou = mask_iou_matrix(official_set.decode(), our_set.decode())
            matched += int((iou.max(1) >= 0.99).sum())
            diagonal = np.diagonal(iou[:, :len(our_set)])
            same_place += int((diagonal >= 0.99).sum())
    num_ours = sum(len(mask_set) for mask_set in our_sets)

    with tempfile.TemporaryDirectory() as folder:
        for index, mask_set in enumerate(our_sets):
            write_amg_folder(folder, f'image{index}', mask_set)
        png_bytes = folder_bytes(folder)
    store_bytes = sum(len(encode_mask_set(mask_set)) for mask_set in our_sets)

    official_rate = len(images) / official_seconds
    our_rate = len(images) / our_seconds
    count = len(images)
    print(f'official SamAutomaticMaskGenerator: {official_seconds:.2f} s, '
          f'{official_rate:.3f} images/s, {official_cpu / count:.2f} CPU s/image, '
          f'{total} masks')
    print(f'FastAutomaticMaskGenerator:         {our_seconds:.2f} s, {our_rate:.3f} images/s, '
          f'{our_cpu / count:.2f} CPU s/image, {num_ours} masks')
    print(f'speed-up: {our_rate / official_rate:.2f}x images/s '
          f'({official_cpu / max(our_cpu, 1e-9):.2f}x in CPU time)')
    if total:
        print(f'mask match (IoU >= 0.99): {matched}/{total} official masks '
              f'({100 * matched / total:.2f}%), in the same position: {same_place}/{total} '
              f'({100 * same_place / total:.2f}%)')
    else:
        print('mask match: the official generator kept no masks (lower the thresholds)')
    print(f'mask store: {store_bytes} bytes; amg.py PNG folder: {png_bytes} bytes; store/PNG = '
          f'{store_bytes / max(png_bytes, 1):.3f} (1/{png_bytes / max(store_bytes, 1):.1f})')
    if random_weights:
        print('(masks from random weights' + (' plus point disks' if disks else '')
              + ': NOT SAM masks)')


def current_rss_bytes() -> int:
    with open('/proc/self/statm', encoding='utf-8') as handle:
        return int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0: ``clear_refs`` 5), so that each phase's
    peak is its own; False where that is not possible."""
    try:
        with open('/proc/self/clear_refs', 'w', encoding='utf-8') as handle:
            handle.write('5')
        return True
    except OSError:
        return False


def peak_rss_since_reset() -> int:
    with open('/proc/self/status', encoding='utf-8') as handle:
        for line in handle:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return peak_rss_bytes()


def measure(work) -> dict:
    """Run ``work()``; RSS before, the peak it reached and its wall seconds."""
    gc.collect()
    reset_peak_rss()
    before = current_rss_bytes()
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    return dict(before=before, peak=peak_rss_since_reset(), seconds=seconds, result=result)


def memory_child(spec: str, args: argparse.Namespace) -> None:
    """One model type in this (fresh) process: the peak RSS of encoding each image batch and
    of prompting one image with each points_per_batch, printed as JSON lines."""
    import mmseg_sam_wsss.sam.automatic_mask_generator as amg_module
    model_type, batches, prompt_batches = (spec.split(':') + ['', ''])[:3]
    torch.set_num_threads(args.threads or torch.get_num_threads())
    torch.manual_seed(args.seed)
    # Upsample in the GPU's chunk size, so the tensors allocated are the GPU path's.
    amg_module.UPSAMPLE_CHUNK_ELEMENTS['cpu'] = amg_module.UPSAMPLE_CHUNK_ELEMENTS['cuda']
    model = add_point_disks(build_sam(model_type, random_init=True))
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    images, _ = load_images(args.data_root, 4, args.seed)
    common = dict(model_type=model_type, weights=weights, threads=torch.get_num_threads())
    features = None
    for image_batch_size in [int(v) for v in batches.split(',') if v]:
        generator = FastAutomaticMaskGenerator(model, image_batch_size=image_batch_size)
        batch = [images[i % len(images)] for i in range(image_batch_size)]
        run = measure(lambda: generator.encode(batch))
        features = run.pop('result')[0]
        print(json.dumps(dict(common, phase='encode', image_batch_size=image_batch_size,
                              **run)), flush=True)
    for points_per_batch in [int(v) for v in prompt_batches.split(',') if v]:
        generator = FastAutomaticMaskGenerator(
            model, points_per_side=32, points_per_batch=points_per_batch,
            pred_iou_thresh=0.0, stability_score_thresh=0.95)
        image = images[0]
        height, width = image.shape[:2]
        feature = features[:1, ] if features is not None else generator.encode([image])[0]
        input_size = generator.transform.get_preprocess_shape(height, width, 1024)

        @torch.no_grad()
        def prompt_and_finish():
            part = generator._process_crop(feature, input_size, (height, width),
                                           [0, 0, width, height], 0, (height, width))
            return len(generator._finish_image([part], (height, width)))

        run = measure(prompt_and_finish)
        print(json.dumps(dict(common, phase='prompt', points_per_batch=points_per_batch,
                              masks=run.pop('result'), **run)), flush=True)


def added(result: dict) -> int:
    return max(result['peak'] - result['before'], 0)


def gpu_estimate_gib(weights: int, encode: dict, prompt: dict) -> float:
    """ESTIMATED GPU memory of a setting (fp32), not measured on a GPU: (weights + the larger
    of the RSS that encoding the image batch and prompting added) x allocator slack + the CUDA
    context. The two phases run one after the other, so their peaks do not add."""
    working = weights + max(added(encode), added(prompt))
    return working * ALLOCATOR_SLACK / 2**30 + CUDA_OVERHEAD_GIB


def memory_main(args: argparse.Namespace) -> None:
    print(f'machine: {machine_description()}')
    print('MEMORY: peak CPU RSS as a STAND-IN for GPU memory (random weights, NOT SAM masks; '
          '1024 px input; prompting: 32x32 points with the predicted-IoU filter off, so every '
          'mask is upsampled (the worst case), in the GPU\'s chunk size); one subprocess per '
          'model type, the peak reset before each phase (/proc/self/clear_refs)')
    if args.memory_from:
        with open(args.memory_from, encoding='utf-8') as handle:
            results = [json.loads(line) for line in handle if line.strip()]
        print(f'(measurements read from {args.memory_from})')
    else:
        results = measure_all(args)
    encodes = [r for r in results if r['phase'] == 'encode']
    prompts = [r for r in results if r['phase'] == 'prompt']
    if not encodes or not prompts:
        return
    print('\n| model | weights MiB | image_batch_size | encoder added MiB | points_per_batch | '
          'prompting added MiB | GPU estimate GiB (fp32) |\n|' + '---|' * 7)
    for encode in encodes:
        for prompt in prompts:
            print(f'| {encode["model_type"]} | {encode["weights"] / 2**20:.0f} | '
                  f'{encode["image_batch_size"]} | {added(encode) / 2**20:.0f} | '
                  f'{prompt["points_per_batch"]} | {added(prompt) / 2**20:.0f} | '
                  f'{gpu_estimate_gib(encode["weights"], encode, prompt):.1f} |')
    print_suggestions(encodes, prompts)


def measure_all(args: argparse.Namespace) -> list:
    """Run one child per ``--memory-plan`` entry; their measurements, also printed."""
    results = []
    for spec in args.memory_plan:
        command = [sys.executable, osp.abspath(__file__), '--memory-child', spec,
                   '--data-root', args.data_root, '--seed', str(args.seed)]
        if args.threads:
            command += ['--threads', str(args.threads)]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
            for line in child.stdout:
                result = json.loads(line)
                results.append(result)
                if args.memory_json:
                    with open(args.memory_json, 'a', encoding='utf-8') as handle:
                        handle.write(line)
                what = (f'image_batch_size {result["image_batch_size"]}'
                        if result['phase'] == 'encode' else
                        f'points_per_batch {result["points_per_batch"]} ({result["masks"]} '
                        'masks kept)')
                print(f'{result["model_type"]} {result["phase"]} {what}: RSS before '
                      f'{result["before"] / 2**20:.0f} MiB, peak {result["peak"] / 2**20:.0f} '
                      f'MiB, added {added(result) / 2**20:.0f} MiB, {result["seconds"]:.1f} s '
                      f'on {result["threads"]} threads', flush=True)
        if child.returncode != 0:
            print(f'{spec}: failed (exit {child.returncode})', flush=True)
    return results


def print_suggestions(encodes: list, prompts: list) -> None:
    """Per card and model type, the largest power-of-two image_batch_size and points_per_batch
    whose estimate fits 80% of the card; the phases grow linearly with them (the encoder per
    image, the decoder per prompt), fitted from the measurements and extrapolated beyond."""
    per_prompt = max(added(p) / p['points_per_batch'] for p in prompts)
    print(f'\nSuggested settings per card: the largest powers of two whose ESTIMATE (weights + '
          f'the larger phase) x {ALLOCATOR_SLACK} + {CUDA_OVERHEAD_GIB:.0f} GiB is at most 80% '
          f'of the card, each phase grown linearly from the measurements (decoder '
          f'{per_prompt / 2**20:.1f} MiB per prompt; encoder per image as below). Estimates from '
          'CPU RSS, NOT measured on a GPU; * = beyond the measured settings (extrapolated).')
    print('\n| card | model | encoder MiB/image | image_batch_size | points_per_batch | '
          'GPU estimate GiB |\n|' + '---|' * 6)
    for card in CARDS_GIB:
        for model_type in sorted({e['model_type'] for e in encodes}):
            mine = [e for e in encodes if e['model_type'] == model_type]
            per_image = max(added(e) / e['image_batch_size'] for e in mine)
            weights = mine[0]['weights']
            budget = (0.8 * card - CUDA_OVERHEAD_GIB) * 2**30 / ALLOCATOR_SLACK - weights
            batch = max([b for b in (1, 2, 4, 8, 16) if b * per_image <= budget] or [0])
            points = max([p for p in (32, 64, 128, 256, 512, 1024, 2048)
                          if p * per_prompt <= budget] or [0])
            if not batch or not points:
                print(f'| {card} GB | {model_type} | {per_image / 2**20:.0f} | none fits | | |')
                continue
            working = weights + max(batch * per_image, points * per_prompt)
            estimate = working * ALLOCATOR_SLACK / 2**30 + CUDA_OVERHEAD_GIB
            star_b = '*' if batch > max(e['image_batch_size'] for e in mine) else ''
            star_p = '*' if points > max(p['points_per_batch'] for p in prompts) else ''
            print(f'| {card} GB | {model_type} | {per_image / 2**20:.0f} | {batch}{star_b} | '
                  f'{points}{star_p} | {estimate:.1f} |')
    print('(out of memory all the same, the generator halves points_per_batch (decoder) or '
          'image_batch_size (encoder) and retries; bf16 autocast needs less)')


if __name__ == '__main__':
    cli_args = parse_args()
    if cli_args.memory_child:
        memory_child(cli_args.memory_child, cli_args)
    elif cli_args.memory:
        memory_main(cli_args)
    else:
        main(cli_args)
