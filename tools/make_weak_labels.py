"""Synthesise weak labels (points, scribbles or coarse masks) from full GT label PNGs.

    python tools/make_weak_labels.py --gt data/VOCdevkit/VOC2012/SegmentationClass \
        --type point --out data/VOCdevkit/VOC2012/weak_labels/point [--ids FILE] [--seed 0]
    # VOC train_aug (10,582 ids): VOC's GT where it exists, else SBD's (mmseg's voc_aug layout)
    python tools/make_weak_labels.py --gt data/VOCdevkit/VOC2012/SegmentationClass \
        data/VOCdevkit/VOC2012/SegmentationClassAug \
        --ids data/VOCdevkit/VOC2012/ImageSets/Segmentation/trainaug.txt \
        --type point --out data/VOCdevkit/VOC2012/weak_labels/point

Writes ``OUT/<id>.png`` (class ids on labelled pixels, 255 elsewhere; ``OUT/<id>.json`` too for
points with ``--points-json``) and ``OUT/weak_meta.json`` (the protocol and its options). Ids
may name sub-folders (Cityscapes' ``<city>/<frame>``, given with ``--ids``); every class is
treated alike, so datasets without background work as they are:

    python tools/make_weak_labels.py --gt data/cityscapes/gtFine/train \
        --gt-suffix _gtFine_labelTrainIds.png --ids CITYSCAPES_IDS.txt --num-classes 19 \
        --type scribble --out data/cityscapes/weak_labels/scribble/train
    # ADE20K: the raw annotations (0 = other, 1..150) reduced as mmseg's reduce_zero_label
    python tools/make_weak_labels.py --gt data/ade/ADEChallengeData2016/annotations/training \
        --reduce-zero-label --num-classes 150 --type scribble \
        --out data/ade/ADEChallengeData2016/weak_labels/scribble/training
 Every
image gets its own generator from ``--seed`` and its id, so reruns and shards agree. Finished
outputs are skipped when ``OUT/.provenance.json`` says they were made from the same GT and
settings; otherwise the run is refused (``--overwrite`` replaces them). The protocols are
documented in ``mmseg_sam_wsss/simulation/weak_label_synthesis.py``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
from functools import partial  # noqa: E402
from typing import List  # noqa: E402

from mmseg_sam_wsss.core.ade20k import reduce_zero_label  # noqa: E402
from mmseg_sam_wsss.core.io import (atomic_write, check_label_values,  # noqa: E402
                                    read_label_png, write_label_png)
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.core.rng import image_rng  # noqa: E402
from mmseg_sam_wsss.core.weak_labels import WEAK_META_NAME, WEAK_TYPES, write_points_json  # noqa
from mmseg_sam_wsss.simulation.weak_label_synthesis import make_weak_label  # noqa: E402
from mmseg_sam_wsss.utils.cli import (NUM_CLASSES, SEED, BadInputTally,  # noqa: E402
                                      add_common_args, add_overwrite_arg, dist_rank_world,
                                      document_ranges, float_in, int_in, resolve_ids,
                                      run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.provenance import OutputRecord, id_output_patterns  # noqa: E402

MAX_AREA = 1 << 24  # pixels: larger than any image below generate_sam_masks' --max-pixels


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Synthesise weak labels from full GT.')
    parser.add_argument('--gt', required=True, nargs='+', metavar='DIR',
                        help='directory of GT label PNGs; with several, each id\'s label comes '
                        'from the first that has it (VOC train_aug: SegmentationClass '
                        'SegmentationClassAug)')
    parser.add_argument('--type', required=True, choices=WEAK_TYPES, dest='weak_type')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--gt-suffix', default='.png')
    parser.add_argument('--num-classes', type=NUM_CLASSES, default=21,
                        help='GT values must be < this or 255 (default: 21, VOC; COCO-81 81, '
                        'Cityscapes 19, ADE20K 150)')
    parser.add_argument('--reduce-zero-label', action='store_true',
                        help='reduce the GT first as mmseg does for ADE20K (0 -> 255, v -> v-1), '
                        'so the weak labels hold the ids the model predicts')
    parser.add_argument('--seed', type=SEED, default=0)
    parser.add_argument('--min-area', type=int_in(0, MAX_AREA), default=16,
                        help='components smaller than this get no label (default: 16)')
    group = parser.add_argument_group('point')
    group.add_argument('--points-per-component', type=int_in(1, 100), default=1)
    group.add_argument('--placement', choices=('center', 'random'), default='center')
    group.add_argument('--radius', type=int_in(0, 64), default=2,
                       help='point disk radius, 0 = one pixel (default: 2)')
    group.add_argument('--points-json', action='store_true',
                       help='also write OUT/<id>.json {"points": [[x, y, class_id], ...]}')
    group = parser.add_argument_group('scribble')
    group.add_argument('--thickness', type=int_in(1, 128), default=3,
                       help='scribble width in pixels (default: 3)')
    group.add_argument('--fraction', type=float_in(0.0, 1.0, low_open=True), default=0.6,
                       help='share of the skeleton path scribbled (default: 0.6)')
    group = parser.add_argument_group('coarse')
    group.add_argument('--erosion', type=int_in(0, 64), default=5,
                       help='erosion in pixels before outlining (default: 5)')
    group.add_argument('--tolerance', type=float_in(0.0, 100.0), default=3.0,
                       help='polygon simplification tolerance in pixels (default: 3.0)')
    add_common_args(parser)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def protocol_options(args: argparse.Namespace) -> dict:
    """The keyword arguments of the chosen protocol."""
    if args.weak_type == 'point':
        return dict(points_per_component=args.points_per_component, placement=args.placement,
                    radius=args.radius, min_area=args.min_area)
    if args.weak_type == 'scribble':
        return dict(thickness=args.thickness, fraction=args.fraction, min_area=args.min_area)
    return dict(erosion=args.erosion, tolerance=args.tolerance, min_area=args.min_area)


def gt_path_of(image_id: str, args: argparse.Namespace) -> str:
    """The id's GT file in the first ``--gt`` folder that has it (else the first folder's)."""
    paths = [osp.join(gt_dir, image_id + args.gt_suffix) for gt_dir in args.gt]
    return next((path for path in paths if osp.isfile(path)), paths[0])


def gt_ids(args: argparse.Namespace) -> List[str]:
    """``--ids``, or every id with a label in any ``--gt`` folder (first seen first)."""
    if args.ids:
        return resolve_ids(args.ids, args.gt[0], args.gt_suffix)
    return list(dict.fromkeys(image_id for gt_dir in args.gt
                              for image_id in resolve_ids(None, gt_dir, args.gt_suffix)))


def process(image_id: str, args: argparse.Namespace) -> None:
    gt_path = gt_path_of(image_id, args)
    if args.reduce_zero_label:
        gt_label = reduce_zero_label(read_label_png(gt_path))
        check_label_values(gt_label, args.num_classes, f'{gt_path} (after --reduce-zero-label)')
    else:
        gt_label = read_label_png(gt_path, num_classes=args.num_classes)
    weak_label, points = make_weak_label(gt_label, args.weak_type,
                                         image_rng(args.seed, image_id), **protocol_options(args))
    if points is not None and args.points_json:
        write_points_json(osp.join(args.out, image_id + '.json'), points, gt_label.shape)
    write_label_png(osp.join(args.out, image_id + '.png'), weak_label)


def is_done(image_id: str, args: argparse.Namespace) -> bool:
    done = osp.isfile(osp.join(args.out, image_id + '.png'))
    if args.weak_type == 'point' and args.points_json:
        done = done and osp.isfile(osp.join(args.out, image_id + '.json'))
    return done


def main(argv=None) -> int:
    args = parse_args(argv)
    rank, world_size = dist_rank_world()
    all_ids = gt_ids(args)
    check_output_ids(args.out, all_ids, ('.png', '.json'), nested=True)
    ids = shard(all_ids, rank, world_size)
    gt_dirs = [osp.abspath(gt_dir) for gt_dir in args.gt]
    meta = dict(weak_type=args.weak_type, seed=args.seed,
                gt_dir=gt_dirs[0] if len(gt_dirs) == 1 else gt_dirs,
                options=protocol_options(args), num_classes=args.num_classes,
                reduce_zero_label=args.reduce_zero_label,
                rng='numpy default_rng([seed, crc32(image_id)])')
    # The record is checked before anything is written: a rerun with other settings is refused
    # here, never resumed into labels of another protocol.
    inputs = {'--gt' if number == 0 else f'--gt ({number + 1})': gt_dir
              for number, gt_dir in enumerate(args.gt)}
    OutputRecord(args.out, 'make_weak_labels', inputs=inputs,
                 settings=dict(weak_type=args.weak_type, seed=args.seed,
                               options=protocol_options(args), gt_suffix=args.gt_suffix,
                               num_classes=args.num_classes, points_json=args.points_json,
                               **({'reduce_zero_label': True} if args.reduce_zero_label
                                  else {})),
                 outputs=id_output_patterns(all_ids, ['.png', '.json'])).check_or_write(
                     args.overwrite, rank, world_size)
    if rank == 0:
        with atomic_write(osp.join(args.out, WEAK_META_NAME), 'w') as handle:
            json.dump(meta, handle, indent=2)
    tally = BadInputTally(args.skip_bad)
    run_per_id(ids, partial(process, args=args), partial(is_done, args=args), tally,
               desc=f'{args.weak_type} labels', workers=args.workers)
    print(tally.summary())
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
