"""Generate class-agnostic masks for every image into a mask store (one ``<id>.samm`` each).

    # SAM's automatic mask generator (batched over images and prompts):
    python tools/generate_sam_masks.py --img-dir VOC2012/JPEGImages --ids train_aug.txt \
        --out work_dirs/masks/sam_vit_h --model-type vit_h \
        --checkpoint checkpoints/sam_vit_h_4b8939.pth [--points-per-side 32 ...] [--amp bf16]
    # on 8 GPUs (ids sharded by rank, rank r on cuda:r):
    tools/dist_generate_sam_masks.sh 8 --img-dir ... --out ... --checkpoint ...
    # stand-ins that are NOT SAM (their store's source says so):
    python tools/generate_sam_masks.py ... --source oracle --gt-dir VOC2012/SegmentationClass
    python tools/generate_sam_masks.py ... --source oracle --oracle-imperfect --seed 0 \
        --gt-dir ... [--oracle-options part_prob=0.5 merge_prob=0.2]
    python tools/generate_sam_masks.py ... --source superpixel --superpixel slic

``store.json`` records the source ('sam-vit_h', 'oracle (GT components, not SAM)',
'oracle-imperfect (...)', 'superpixel-slic (not SAM)', 'sam-random-init (not SAM)'), the
settings and the store's uid; ``.provenance.json`` records the inputs too. A rerun with other
inputs or mask-changing settings is refused (``--overwrite`` regenerates the store under a new
uid, so labels derived from the old one are not resumed either). Writes are atomic and finished
images are skipped, so a killed run resumes where it stopped. Bad images (unreadable, grey,
RGBA, above ``--max-pixels``) stop the run with one line naming the file, or are counted under
``--skip-bad`` (exit 3).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import inspect  # noqa: E402
from collections import deque  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from typing import Callable, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from mmseg_sam_wsss.core.io import (DEFAULT_MAX_PIXELS, read_image,  # noqa: E402
                                    read_label_png)
from mmseg_sam_wsss.core.mask_store import SUFFIX as MASK_SUFFIX  # noqa: E402
from mmseg_sam_wsss.core.mask_store import MaskStore  # noqa: E402
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (NUM_CLASSES, SEED, BadInputTally,  # noqa: E402
                                      add_common_args, add_overwrite_arg,
                                      dist_rank_world, document_ranges,
                                      float_in, int_in, iter_progress, parse_key_values,
                                      resolve_ids, run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402
from mmseg_sam_wsss.utils.summaries import (mask_count_summary, print_summary,  # noqa: E402
                                            store_mask_counts)

# Settings that change speed, not masks: a resumed run may use other values.
SPEED_ONLY_SETTINGS = ('points_per_batch', 'image_batch_size')
MAX_AREA = 1 << 24  # pixels


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Class-agnostic masks (SAM, or oracle/superpixel stand-ins) into a store')
    parser.add_argument('--img-dir', required=True, help='images <id><img-suffix>')
    parser.add_argument('--img-suffix', default='.jpg')
    parser.add_argument('--out', required=True, help='mask store directory (created)')
    parser.add_argument('--source', choices=('sam', 'oracle', 'superpixel'), default='sam')
    parser.add_argument('--max-pixels', type=int_in(0, 1 << 30), default=DEFAULT_MAX_PIXELS,
                        help=f'refuse larger images (default: {DEFAULT_MAX_PIXELS}; 0: no limit)')
    sam = parser.add_argument_group('SAM (--source sam); defaults are SAM\'s')
    sam.add_argument('--model-type', default=None,
                     help='vit_h|vit_l|vit_b|tiny (default: vit_h; tiny with '
                     '--random-init-for-tests)')
    sam.add_argument('--checkpoint', help='SAM checkpoint (.pth)')
    sam.add_argument('--random-init-for-tests', action='store_true',
                     help='random SAM weights: a wiring test, NOT a SAM result (store source '
                     '"sam-random-init (not SAM)")')
    sam.add_argument('--device', default='auto',
                     help='torch device (default: cuda:LOCAL_RANK when a GPU is there, else cpu)')
    sam.add_argument('--points-per-side', type=int_in(1, 128), default=32)
    sam.add_argument('--points-per-batch', type=int_in(1, 4096), default=256,
                     help='prompts per decoder call; speed only (default: 256; SAM: 64)')
    sam.add_argument('--pred-iou-thresh', type=float_in(0.0, 1.0), default=0.88)
    sam.add_argument('--stability-score-thresh', type=float_in(0.0, 1.0), default=0.95)
    sam.add_argument('--box-nms-thresh', type=float_in(0.0, 1.0), default=0.7)
    sam.add_argument('--crop-n-layers', type=int_in(0, 4), default=0)
    sam.add_argument('--min-mask-region-area', type=int_in(0, MAX_AREA), default=0)
    sam.add_argument('--image-batch-size', type=int_in(1, 64), default=4,
                     help='images per image-encoder batch (default: 4)')
    sam.add_argument('--amp', choices=('none', 'bf16', 'fp16'), default='none',
                     help='autocast on GPU (default: none, fp32)')
    oracle = parser.add_argument_group('oracle (--source oracle): GT components, NOT SAM')
    oracle.add_argument('--gt-dir', help='GT label PNGs <id><gt-suffix>')
    oracle.add_argument('--gt-suffix', default='.png')
    oracle.add_argument('--num-classes', type=NUM_CLASSES, default=21,
                        help='GT values must be < this or 255 (default: 21)')
    oracle.add_argument('--oracle-imperfect', action='store_true',
                        help='simulate SAM errors (parts, merges, border noise, stuff)')
    oracle.add_argument('--seed', type=SEED, default=0,
                        help='seed of --oracle-imperfect (per image with its id; default: 0)')
    oracle.add_argument('--oracle-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='constructor arguments of OracleMasks / ImperfectOracleMasks '
                        '(core/mask_sources.py), e.g. merge_prob=0.2 background_masks=False')
    superpixel = parser.add_argument_group('superpixel (--source superpixel), NOT SAM')
    superpixel.add_argument('--superpixel', choices=('felzenszwalb', 'slic'),
                            default='felzenszwalb')
    superpixel.add_argument('--sp-scale', type=float_in(0.0, 1e6, low_open=True),
                            default=300.0, help='felzenszwalb scale (default: 300)')
    superpixel.add_argument('--sp-min-size', type=int_in(0, MAX_AREA), default=200,
                            help='felzenszwalb min segment size (default: 200)')
    superpixel.add_argument('--sp-segments', type=int_in(1, 100000), default=100,
                            help='slic n_segments (default: 100)')
    superpixel.add_argument('--sp-compactness', type=float_in(0.0, 1e4, low_open=True),
                            default=10.0, help='slic compactness (default: 10)')
    superpixel.add_argument('--sp-sigma', type=float_in(0.0, 100.0), default=0.8,
                            help='smoothing of both methods (default: 0.8)')
    add_common_args(parser)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.source == 'oracle' and not args.gt_dir:
        parser.error('--source oracle needs --gt-dir (the GT label PNGs)')
    if args.source != 'oracle' and (args.oracle_imperfect or args.oracle_options):
        parser.error('--oracle-imperfect/--oracle-options need --source oracle')
    if args.source == 'sam':
        if not (args.checkpoint or args.random_init_for_tests):
            parser.error('--source sam needs --checkpoint (or --random-init-for-tests)')
        if args.checkpoint and args.random_init_for_tests:
            parser.error('pass --checkpoint or --random-init-for-tests, not both')
        if args.workers > 1:
            parser.error('--workers is for oracle/superpixel; spread SAM over GPUs with '
                         'tools/dist_generate_sam_masks.sh')
    if args.model_type is None:
        args.model_type = 'tiny' if args.random_init_for_tests else 'vit_h'
    return args


def parse_options(items: Sequence[str], target: type) -> Dict:
    """``KEY=VALUE`` strings as constructor arguments of ``target`` (values as Python literals)."""
    allowed = [name for name in inspect.signature(target.__init__).parameters
               if name not in ('self', 'seed')]
    return parse_key_values(items, '--oracle-options', allowed, f' ({target.__name__})')


def build_generator(args: argparse.Namespace):
    """The mask generator: a FastAutomaticMaskGenerator (SAM) or a non-SAM source.

    Returns:
        tuple: ``(generator, source, settings)``; ``generator`` has ``generate_batch`` (SAM)
        or ``generate`` (oracle, superpixel).
    """
    # The non-SAM sources import scipy/scikit-image: only when asked for, so that the SAM path
    # runs on a bare GPU machine (torch, segment-anything, NumPy, pycocotools).
    if args.source == 'oracle':
        from mmseg_sam_wsss.simulation.mask_oracles import ImperfectOracleMasks, OracleMasks
        target = ImperfectOracleMasks if args.oracle_imperfect else OracleMasks
        options = parse_options(args.oracle_options, target)
        if args.oracle_imperfect:
            options['seed'] = args.seed
        try:
            generator = target(**options)
        except TypeError as error:
            raise SamWsssError(f'--oracle-options: {error}') from error
        return generator, generator.source, generator.settings
    if args.source == 'superpixel':
        from mmseg_sam_wsss.simulation.superpixels import SuperpixelMasks
        generator = SuperpixelMasks(args.superpixel, scale=args.sp_scale,
                                    min_size=args.sp_min_size, n_segments=args.sp_segments,
                                    compactness=args.sp_compactness, sigma=args.sp_sigma)
        return generator, generator.source, generator.settings
    import torch
    from mmseg_sam_wsss.sam.automatic_mask_generator import FastAutomaticMaskGenerator
    from mmseg_sam_wsss.sam.builder import build_sam, resolve_device
    device = resolve_device(args.device)
    if device.startswith('cuda'):
        torch.cuda.set_device(torch.device(device))
    elif args.amp == 'fp16':
        raise SamWsssError('--amp fp16 needs a GPU; use --amp none (or bf16) on the CPU')
    sam_model = build_sam(args.model_type, checkpoint=args.checkpoint,
                          random_init=args.random_init_for_tests, device=device)
    generator = FastAutomaticMaskGenerator(
        sam_model, points_per_side=args.points_per_side, points_per_batch=args.points_per_batch,
        pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_score_thresh,
        box_nms_thresh=args.box_nms_thresh, crop_n_layers=args.crop_n_layers,
        min_mask_region_area=args.min_mask_region_area, image_batch_size=args.image_batch_size,
        amp=args.amp, log=lambda line: tqdm.write(f'warning: {line}', file=sys.stderr))
    settings = dict(generator.settings,
                    checkpoint=osp.basename(args.checkpoint) if args.checkpoint else None)
    return generator, generator.mask_source, settings


class ImageReader:
    """Reads and checks one image (and its GT for the oracle); picklable for ``--workers``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.img_dir, self.img_suffix = args.img_dir, args.img_suffix
        self.max_pixels = args.max_pixels or None
        self.gt_dir = args.gt_dir if args.source == 'oracle' else None
        self.gt_suffix, self.num_classes = args.gt_suffix, args.num_classes

    def image(self, image_id: str) -> np.ndarray:
        """``(H, W, 3) uint8`` RGB; :class:`SamWsssError` naming the file if bad."""
        return read_image(osp.join(self.img_dir, image_id + self.img_suffix), self.max_pixels)

    def gt_label(self, image_id: str, shape: Tuple[int, int]) -> np.ndarray:
        """``(H, W) uint8`` GT of the image's size; :class:`SamWsssError` naming the file."""
        return read_label_png(osp.join(self.gt_dir, image_id + self.gt_suffix),
                              num_classes=self.num_classes, shape=shape)


class NonSamJob:
    """Masks of one image from an oracle or superpixel source, written to the store."""

    def __init__(self, generator, reader: ImageReader, store: MaskStore,
                 written_by: Dict) -> None:
        self.generator, self.reader, self.store, self.written_by = (generator, reader, store,
                                                                    written_by)

    def __call__(self, image_id: str) -> None:
        image = self.reader.image(image_id)
        if self.reader.gt_dir is not None:
            mask_set = self.generator.generate(self.reader.gt_label(image_id, image.shape),
                                               image_id)
        else:
            mask_set = self.generator.generate(image, image_id)
        mask_set.settings.update(self.written_by)
        self.store.write(image_id, mask_set)


class SourceTally(BadInputTally):
    """A :class:`BadInputTally` whose ``--skip-bad`` lines name the mask source."""

    def __init__(self, skip_bad: bool, source: str) -> None:
        super().__init__(skip_bad)
        self.source = source

    def record_bad(self, error: SamWsssError, prefix: str = '[skip-bad]') -> None:
        super().record_bad(error, f'{prefix} [masks from {self.source}]')


def _prefetched(ids: Sequence[str], read: Callable[[str], np.ndarray], depth: int):
    """``(id, image or SamWsssError)`` in order, reading up to ``depth`` images ahead."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = deque()
        for image_id in ids:
            pending.append((image_id, pool.submit(_read_catching, read, image_id)))
            if len(pending) > depth:
                queued_id, future = pending.popleft()
                yield queued_id, future.result()
        while pending:
            queued_id, future = pending.popleft()
            yield queued_id, future.result()


def _read_catching(read, image_id):
    try:
        return read(image_id)
    except SamWsssError as error:
        return error


def run_sam(ids: Sequence[str], generator, reader: ImageReader, store: MaskStore,
            tally: BadInputTally, desc: str, written_by: Dict) -> BadInputTally:
    """SAM masks of every unfinished id, ``image_batch_size`` images per ``generate_batch``."""
    todo = []
    for image_id in ids:
        if store.has(image_id):
            tally.skipped += 1
        else:
            todo.append(image_id)
    progress = iter_progress(None, desc, total=len(todo))
    batch: List[Tuple[str, np.ndarray]] = []

    def write(index: int, mask_set) -> None:  # as soon as an image is done: the bar moves
        mask_set.settings.update(written_by)
        store.write(batch[index][0], mask_set)
        tally.done += 1
        progress.update(1)

    def flush() -> None:
        generator.generate_batch([image for _, image in batch], on_image=write)
        batch.clear()

    with progress:
        for image_id, image in _prefetched(todo, reader.image, 2 * generator.image_batch_size):
            if isinstance(image, SamWsssError):
                tally.record_bad(image)
                progress.update(1)
                continue
            batch.append((image_id, image))
            if len(batch) >= generator.image_batch_size:
                flush()
        if batch:
            flush()
    return tally


def open_store(args: argparse.Namespace, source: str, settings: Dict, rank: int,
               world_size: int, barrier: Callable[[], None]) -> MaskStore:
    """Check ``--out`` against its record (refusing other inputs or mask-changing settings,
    removing the old store under ``--overwrite``); rank 0 then creates the store, others wait
    and open it."""
    gt_dir = args.gt_dir if args.source == 'oracle' else None
    comparable = {k: v for k, v in settings.items() if k not in SPEED_ONLY_SETTINGS}
    OutputRecord(args.out, 'generate_sam_masks',
                 inputs={'--img-dir': args.img_dir, '--gt-dir': gt_dir,
                         '--checkpoint': args.checkpoint},
                 settings=dict(source=source, generator=comparable, img_suffix=args.img_suffix,
                               gt_suffix=args.gt_suffix if gt_dir else None,
                               num_classes=args.num_classes if gt_dir else None),
                 outputs=['*.samm', 'store.json']).check_or_write(
                     args.overwrite, rank, world_size, barrier)
    store = None
    if rank == 0:
        store = MaskStore(args.out, create=True, source=source, settings=settings)
    barrier()
    if store is None:
        store = MaskStore(args.out, source=source)
    if {k: v for k, v in store.settings.items() if k not in SPEED_ONLY_SETTINGS} != comparable:
        raise SamWsssError(f'{osp.join(args.out, "store.json")}: this store was made with other '
                           f'settings ({store.settings}, now {settings}); rerun with '
                           '--overwrite or use another --out')
    return store


class RankGroup:
    """The ranks of a torchrun job (a gloo process group when WORLD_SIZE > 1), or just this one.

    gloo is enough on CPU and GPU machines alike: the ranks only wait for the store to exist
    and gather their counts at the end; the masks never travel between ranks.
    """

    def __init__(self, world_size: int) -> None:
        self.world_size = world_size
        self.dist = None
        if world_size > 1:
            import datetime

            import torch.distributed as dist
            if not dist.is_initialized():
                dist.init_process_group('gloo', timeout=datetime.timedelta(hours=12))
            self.dist = dist

    def barrier(self) -> None:
        if self.dist is not None:
            self.dist.barrier()

    def gather(self, value) -> list:
        """Every rank's ``value`` (a picklable object), in rank order."""
        if self.dist is None:
            return [value]
        values = [None] * self.world_size
        self.dist.all_gather_object(values, value)
        return values

    def close(self) -> None:
        if self.dist is not None:
            self.dist.barrier()
            self.dist.destroy_process_group()


def main(argv=None) -> Optional[int]:
    args = parse_args(argv)
    rank, world_size = dist_rank_world(rendezvous=True)
    if args.source == 'sam':
        from mmseg_sam_wsss.sam.builder import check_sam_checkpoint
        check_sam_checkpoint(args.checkpoint, args.model_type)
    ids = resolve_ids(args.ids, args.img_dir, args.img_suffix)
    check_output_ids(args.out, ids, (MASK_SUFFIX, ), nested=True)
    my_ids = shard(ids, rank, world_size)
    group = RankGroup(world_size)
    generator, source, settings = build_generator(args)
    store = open_store(args, source, settings, rank, world_size, group.barrier)
    where = f'[rank {rank}/{world_size}] ' if world_size > 1 else ''
    print(f'{where}masks from {source}: {len(my_ids)} of {len(ids)} ids -> {args.out}',
          flush=True)
    desc = f'{where}masks [{source}]'
    written_by = dict(rank=rank, world_size=world_size)
    reader = ImageReader(args)
    tally = SourceTally(args.skip_bad, source)
    if args.source == 'sam':
        run_sam(my_ids, generator, reader, store, tally, desc, written_by)
    else:
        run_per_id(my_ids, NonSamJob(generator, reader, store, written_by), store.has, tally,
                   desc, args.workers)
    if world_size > 1:
        print(f'{where}{tally.summary()}; masks from {source}', flush=True)
    counts = group.gather(dict(done=tally.done, skipped=tally.skipped, bad=tally.bad))
    group.close()
    total = BadInputTally(args.skip_bad)
    for count in counts:
        total.done += count['done']
        total.skipped += count['skipped']
        total.bad += count['bad']
    if rank == 0:
        ranks = f' over {world_size} ranks' if world_size > 1 else ''
        print(f'{total.summary()}{ranks}; masks from {source}; store {args.out} holds '
              f'{len(store.ids())} images', flush=True)
        print_summary([mask_count_summary(store_mask_counts(store, ids).values(),
                                          f'store {args.out} [{source}], these ids')])
    return total.exit_code()


if __name__ == '__main__':
    run_tool(main)
