"""Convert Cityscapes' official coarse annotations to coarse weak labels (19 train ids).

    python tools/convert_cityscapes.py --root data/cityscapes --split train \
        --out data/cityscapes/weak_labels/coarse/train [--workers 4]

Reads ``ROOT/leftImg8bit/<split>/<city>/<frame>_leftImg8bit.png`` (the ids, and the size each
label must have) and ``ROOT/gtCoarse/<split>/<city>/<frame>_gtCoarse_labelIds.png`` (label ids
0..33), maps the label ids to train ids with cityscapesscripts' table (road 0 ... bicycle 18,
everything else 255 = unlabelled) and writes ``OUT/<city>/<frame><out-suffix>`` (default
``.png``: the project's ``<weak dir>/<id>.png`` layout that ``tools/sesam_pseudo_labels.py``
and ``WeakCityscapesDataset`` read; ``--out-suffix _gtCoarse_labelTrainIds.png`` gives
cityscapesscripts' own names), ``OUT/ids.txt`` (one ``<city>/<frame>`` per line, for the tools'
``--ids``) and ``OUT/weak_meta.json``. Finished ids are skipped when ``OUT/.provenance.json``
shows the same inputs and settings; anything else is refused (``--overwrite`` starts again).
A missing coarse label, an unreadable or non-single-channel PNG, a size other than its image's
(checked from the header, before decoding), an image above ``--max-pixels`` or a value that is
no label id stops the run with one line naming the file (or is counted under ``--skip-bad``).

Points and scribbles synthesised from the fine GT come from ``tools/make_weak_labels.py`` (after
mmseg's ``tools/dataset_converters/cityscapes.py`` wrote ``*_gtFine_labelTrainIds.png``):

    python tools/make_weak_labels.py --gt data/cityscapes/gtFine/train \
        --gt-suffix _gtFine_labelTrainIds.png --num-classes 19 --type point \
        --ids data/cityscapes/weak_labels/coarse/train/ids.txt \
        --out data/cityscapes/weak_labels/point/train
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
from functools import partial  # noqa: E402

from mmseg_sam_wsss.core import cityscapes  # noqa: E402
from mmseg_sam_wsss.core.io import (DEFAULT_MAX_PIXELS, atomic_write, read_ids,  # noqa: E402
                                    read_label_png)
from mmseg_sam_wsss.core.io import write_label_png  # noqa: E402
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.core.weak_label_formats import image_shape  # noqa: E402
from mmseg_sam_wsss.core.weak_labels import WEAK_META_NAME  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (BadInputTally, add_common_args,  # noqa: E402
                                      add_overwrite_arg, dist_rank_world, document_ranges,
                                      int_in, run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402

IDS_NAME = 'ids.txt'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Cityscapes gtCoarse label ids -> coarse weak '
                                     'labels in train ids.')
    parser.add_argument('--root', required=True, help='the Cityscapes folder (leftImg8bit/, '
                        'gtCoarse/)')
    parser.add_argument('--split', default='train',
                        help='train, val or train_extra (default: train)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--out-suffix', default='.png',
                        help='written file name after the id (default: .png)')
    parser.add_argument('--max-pixels', type=int_in(0, 1 << 30), default=DEFAULT_MAX_PIXELS,
                        help='an image whose header says it is larger is bad input '
                        f'(default: {DEFAULT_MAX_PIXELS}; 0: no limit)')
    add_common_args(parser)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def split_dirs(args: argparse.Namespace):
    """``(image folder, coarse label folder)`` of the split."""
    return (osp.join(args.root, 'leftImg8bit', args.split),
            osp.join(args.root, 'gtCoarse', args.split))


def process(image_id: str, img_dir: str, coarse_dir: str, out: str, out_suffix: str,
            max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    shape = image_shape(osp.join(img_dir, image_id + cityscapes.IMG_SUFFIX), max_pixels or None)
    src_path = osp.join(coarse_dir, image_id + cityscapes.COARSE_LABEL_IDS_SUFFIX)
    if not osp.isfile(src_path):
        raise SamWsssError(f'{src_path}: coarse label not found; unpack gtCoarse.zip into '
                           '--root, or leave the image out with --ids')
    label_ids = read_label_png(src_path, shape=shape)  # its size is checked before decoding
    weak_label = cityscapes.label_ids_to_train_ids(label_ids, src_path)
    write_label_png(osp.join(out, image_id + out_suffix), weak_label)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if '/' in args.out_suffix or not args.out_suffix.endswith('.png'):
        raise SamWsssError(f'--out-suffix {args.out_suffix!r}: must end with .png and hold no '
                           '/ (e.g. .png or _gtCoarse_labelTrainIds.png)')
    rank, world_size = dist_rank_world()
    img_dir, coarse_dir = split_dirs(args)
    if not osp.isdir(coarse_dir):
        raise SamWsssError(f'{coarse_dir}: not found; unpack the official gtCoarse.zip into '
                           '--root (gtCoarse/<split>/<city>/*_gtCoarse_labelIds.png)')
    ids = cityscapes.cityscapes_ids(img_dir)
    OutputRecord(args.out, 'convert_cityscapes',
                 inputs={'images': img_dir, 'gtCoarse': coarse_dir},
                 settings=dict(split=args.split, out_suffix=args.out_suffix),
                 outputs=['*/*' + args.out_suffix, IDS_NAME, WEAK_META_NAME]).check_or_write(
                     args.overwrite, rank, world_size)
    if rank == 0:
        with atomic_write(osp.join(args.out, IDS_NAME), 'w') as handle:
            handle.write(''.join(f'{image_id}\n' for image_id in ids))
        meta = dict(weak_type='coarse', source='converted', format='cityscapes-gtCoarse',
                    src=osp.abspath(coarse_dir), img_dir=osp.abspath(img_dir),
                    num_classes=cityscapes.NUM_CLASSES, background_index=None,
                    options=dict(split=args.split, out_suffix=args.out_suffix),
                    mapping='cityscapesscripts helpers/labels.py: label id -> trainId, '
                    'ignored ids -> 255')
        with atomic_write(osp.join(args.out, WEAK_META_NAME), 'w') as handle:
            json.dump(meta, handle, indent=2)
    todo = read_ids(args.ids) if args.ids else ids
    check_output_ids(args.out, todo, (args.out_suffix, ), nested=True)
    tally = BadInputTally(args.skip_bad)
    run_per_id(shard(todo, rank, world_size),
               partial(process, img_dir=img_dir, coarse_dir=coarse_dir, out=args.out,
                       out_suffix=args.out_suffix, max_pixels=args.max_pixels),
               lambda image_id: osp.isfile(osp.join(args.out, image_id + args.out_suffix)),
               tally, desc=f'Cityscapes coarse ({args.split})', workers=args.workers)
    print(f'{tally.summary()}; coarse labels (19 train ids, 255 unlabelled) in {args.out}, ids '
          f'in {osp.join(args.out, IDS_NAME)}')
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
