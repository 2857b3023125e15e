"""Refine CAM pseudo-labels with class-agnostic masks (SEPL merge), offline.

    python tools/enhance_pseudo_labels.py --pseudo-dir DIR --masks PATH --out DIR
        [--ids IDS.txt] [--rule sepl|max_iou|sesam_coverage] [--num-classes 21]
        [--keep-ignore] [--rule-options majority_ratio=0.5 coverage_ratio=0.85]
        [--workers N] [--skip-bad]

``--masks`` is a mask store (a directory with ``store.json``) or a folder of segment-anything
``scripts/amg.py`` outputs (``<id>/<k>.png``); the kind is detected. Writes ``OUT/<id>.png``
(single-channel class ids, VOC palette) atomically and records the mask source in
``OUT/enhance_meta.json`` so oracle or superpixel runs are never taken for SAM. Ids already
written are skipped only when ``OUT/.provenance.json`` shows the same pseudo-labels, mask store
(its uid: a store regenerated in place is another store), rule and options; anything else is
refused (``--overwrite`` replaces the outputs). Rule options have ranges: ``majority_ratio`` and
``coverage_ratio`` in 0..1, ``penalty`` in 0..100, ``min_score`` <= 1.
"""
import argparse
import functools
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmseg_sam_wsss.core.io import atomic_write  # noqa: E402
from mmseg_sam_wsss.core.mask_store import open_mask_source  # noqa: E402
from mmseg_sam_wsss.core.merge import enhance_label_file, merge_rule_options  # noqa: E402
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (NUM_CLASSES, BadInputTally, add_common_args,  # noqa
                                      add_overwrite_arg, dist_rank_world, document_ranges,
                                      parse_key_values, resolve_ids, run_per_id, run_tool,
                                      shard)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402
from mmseg_sam_wsss.utils.summaries import label_change_summary, print_summary  # noqa: E402

META_NAME = 'enhance_meta.json'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Enhance CAM pseudo-labels with SAM masks')
    parser.add_argument('--pseudo-dir', required=True, help='CAM pseudo-labels <id>.png')
    parser.add_argument('--masks', required=True,
                        help='mask store directory (store.json) or amg.py output folder')
    parser.add_argument('--out', required=True, help='output directory for <id>.png')
    parser.add_argument('--rule', default='sepl', help='merge rule (default: sepl)')
    parser.add_argument('--num-classes', type=NUM_CLASSES, default=21,
                        help='classes including background (default: 21, VOC)')
    parser.add_argument('--keep-ignore', action='store_true',
                        help='keep unpainted 255 pixels at 255 (default: background, as SEPL)')
    parser.add_argument('--rule-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='thresholds of the rule, e.g. majority_ratio=0.5 '
                        'coverage_ratio=0.85 (sepl; both 0..1), penalty=1.0 (0..100) '
                        'min_score=0.0 (<= 1) (sesam_coverage); default: the rule\'s own')
    add_common_args(parser)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rule_options = merge_rule_options(
        args.rule, parse_key_values(args.rule_options, '--rule-options'), where='--rule-options')
    if not osp.isdir(args.pseudo_dir):
        raise SamWsssError(f'{args.pseudo_dir}: --pseudo-dir not found')
    read_masks = open_mask_source(args.masks)
    ids = resolve_ids(args.ids, args.pseudo_dir, '.png')
    check_output_ids(args.out, ids, ('.png', ))
    rank, world_size = dist_rank_world()
    ids = shard(ids, rank, world_size)
    print(f'masks: {read_masks!r}; rule {args.rule} {rule_options}; {len(ids)} ids')
    meta = {'mask_path': osp.abspath(args.masks), 'mask_kind': read_masks.kind,
            'mask_source': read_masks.source, 'pseudo_dir': osp.abspath(args.pseudo_dir),
            'rule': args.rule, 'rule_options': rule_options, 'num_classes': args.num_classes,
            'keep_ignore': args.keep_ignore}
    OutputRecord(args.out, 'enhance_pseudo_labels',
                 inputs={'--pseudo-dir': args.pseudo_dir,
                         '--masks': read_masks.identity or args.masks},
                 settings=dict(rule=args.rule, rule_options=rule_options,
                               num_classes=args.num_classes, keep_ignore=args.keep_ignore,
                               mask_source=read_masks.source, mask_kind=read_masks.kind),
                 outputs=['*.png', META_NAME]).check_or_write(args.overwrite, rank, world_size)
    if rank == 0:
        with atomic_write(osp.join(args.out, META_NAME), 'w') as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)
    process = functools.partial(enhance_label_file, pseudo_dir=args.pseudo_dir,
                                read_masks=read_masks, out_dir=args.out, rule=args.rule,
                                num_classes=args.num_classes, keep_ignore=args.keep_ignore,
                                **rule_options)
    stats = []
    tally = run_per_id(ids, process, lambda i: osp.isfile(osp.join(args.out, i + '.png')),
                       BadInputTally(args.skip_bad), 'enhance', args.workers,
                       on_result=lambda image_id, counts: stats.append(counts))
    print(f'{tally.summary()}; masks from {read_masks.source!r} ({read_masks.kind})')
    print_summary([label_change_summary(stats)])
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
