"""Refine CAM pseudo-labels with class-agnostic masks (SEPL merge), offline.

    python tools/enhance_pseudo_labels.py --pseudo-dir DIR --masks PATH --out DIR
        [--ids IDS.txt] [--rule sepl|max_iou|sesam_coverage] [--num-classes 21]
        [--keep-ignore] [--rule-options majority_ratio=0.5 coverage_ratio=0.85]
        [--workers N] [--skip-bad]

``--masks`` is a mask store (a directory with ``store.json``) or a folder of segment-anything
``scripts/amg.py`` outputs (``<id>/<k>.png``); the kind is detected. Writes ``OUT/<id>.png``
(single-channel class ids, VOC palette) atomically, skips ids already written, and records the
mask source in ``OUT/enhance_meta.json`` so oracle or superpixel runs are never taken for SAM.
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
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (BadInputTally, add_common_args, dist_rank_world,  # noqa
                                      parse_key_values, resolve_ids, run_per_id, run_tool,
                                      shard)

META_NAME = 'enhance_meta.json'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Enhance CAM pseudo-labels with SAM masks')
    parser.add_argument('--pseudo-dir', required=True, help='CAM pseudo-labels <id>.png')
    parser.add_argument('--masks', required=True,
                        help='mask store directory (store.json) or amg.py output folder')
    parser.add_argument('--out', required=True, help='output directory for <id>.png')
    parser.add_argument('--rule', default='sepl', help='merge rule (default: sepl)')
    parser.add_argument('--num-classes', type=int, default=21,
                        help='classes including background (default: 21, VOC)')
    parser.add_argument('--keep-ignore', action='store_true',
                        help='keep unpainted 255 pixels at 255 (default: background, as SEPL)')
    parser.add_argument('--rule-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='thresholds of the rule, e.g. majority_ratio=0.5 '
                        'coverage_ratio=0.85 (sepl), penalty=1.0 min_score=0.0 '
                        '(sesam_coverage); default: the rule\'s own')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rule_options = merge_rule_options(
        args.rule, parse_key_values(args.rule_options, '--rule-options'), where='--rule-options')
    if not osp.isdir(args.pseudo_dir):
        raise SamWsssError(f'{args.pseudo_dir}: --pseudo-dir not found')
    read_masks = open_mask_source(args.masks)
    ids = resolve_ids(args.ids, args.pseudo_dir, '.png')
    rank, world_size = dist_rank_world()
    ids = shard(ids, rank, world_size)
    print(f'masks: {read_masks!r}; rule {args.rule} {rule_options}; {len(ids)} ids')
    meta = {'mask_path': osp.abspath(args.masks), 'mask_kind': read_masks.kind,
            'mask_source': read_masks.source, 'pseudo_dir': osp.abspath(args.pseudo_dir),
            'rule': args.rule, 'rule_options': rule_options, 'num_classes': args.num_classes,
            'keep_ignore': args.keep_ignore}
    meta_path = osp.join(args.out, META_NAME)
    if osp.isfile(meta_path):
        with open(meta_path, encoding='utf-8') as handle:
            previous = json.load(handle)
        if previous != meta:
            raise SamWsssError(f'{meta_path}: this output directory was made with other '
                               f'settings ({previous}); use a new --out or delete it')
    elif rank == 0:
        with atomic_write(meta_path, 'w') as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)
    process = functools.partial(enhance_label_file, pseudo_dir=args.pseudo_dir,
                                read_masks=read_masks, out_dir=args.out, rule=args.rule,
                                num_classes=args.num_classes, keep_ignore=args.keep_ignore,
                                **rule_options)
    tally = run_per_id(ids, process, lambda i: osp.isfile(osp.join(args.out, i + '.png')),
                       BadInputTally(args.skip_bad), 'enhance', args.workers)
    print(f'{tally.summary()}; masks from {read_masks.source!r} ({read_masks.kind})')
    return 1 if tally.bad else 0


if __name__ == '__main__':
    run_tool(main)
