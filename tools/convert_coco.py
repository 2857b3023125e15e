"""Convert MS-COCO 2014 instance annotations to 81-class semantic label PNGs for WSSS.

    python tools/convert_coco.py --ann data/coco2014/annotations/instances_train2014.json \
        --img-dir data/coco2014/train2014 --out data/coco2014/labels/train2014 [--workers 8]
    python tools/convert_coco.py --ann data/coco2014/annotations/instances_val2014.json \
        --img-dir data/coco2014/val2014 --out data/coco2014/labels/val2014 [--workers 8]

Writes ``OUT/<name>.png`` (class ids 0..80, 0 = background, 255 = ignore; ``<name>`` is the
image file name without ``.jpg``, e.g. ``COCO_train2014_000000000009``), ``OUT/ids.txt`` (the
split: every image with at least one annotation, 82,081 of train2014 and 40,137 of val2014),
``OUT/cls_labels.json`` (``{name: [class ids]}``, every category annotated in the image) and
``OUT/coco_meta.json`` (the classes, the category mapping, the protocol and the counts). The
protocol (ids 1-90 with gaps -> 1-80, overlaps, ``iscrowd``) is documented in
``mmseg_sam_wsss/core/coco.py``. ``--ids`` paints only the listed images now (the id list and
tags always cover the split). Finished labels are skipped when ``OUT/.provenance.json`` shows
the same annotation file and settings; anything else is refused (``--overwrite`` starts
again). Under torchrun every rank paints its own share.

The instances file is checked field by field (``core/coco.py``: ``read_instances`` and
``annotation_problem``). A broken file (not JSON, missing lists, two images with one id or
name, an unknown category) stops the run with one line. An image with a bad size (or above
``--max-pixels``) or a bad annotation (NaN or out-of-image coordinates, an odd coordinate
count, an RLE of the wrong size, a non-numeric ``area``, a bad ``bbox``) stops the run with one
line naming it, or, under ``--skip-bad``, is left out of the split, the tags and the labels and
counted (exit 3). An object whose segmentation paints no pixel is painted from its box.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
from functools import partial  # noqa: E402
from typing import Dict, Optional  # noqa: E402

from mmseg_sam_wsss.core.coco import (COCO_CATEGORIES, COCO_CLASSES,  # noqa: E402
                                      COCO_PALETTE, CROWD_MODES, CocoImage, image_tags,
                                      instances_to_label, read_instances, split_images)
from mmseg_sam_wsss.core.io import (DEFAULT_MAX_PIXELS, atomic_write, read_ids,  # noqa: E402
                                    write_label_png)
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.core.weak_label_formats import image_shape  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (BadInputTally, add_common_args,  # noqa: E402
                                      add_overwrite_arg, dist_rank_world, document_ranges,
                                      int_in, run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402

IDS_NAME = 'ids.txt'
CLS_LABELS_NAME = 'cls_labels.json'
META_NAME = 'coco_meta.json'
OUTPUTS = ('*.png', IDS_NAME, CLS_LABELS_NAME, META_NAME)

# The parsed instances file, shared with forked workers instead of pickled for every task.
_IMAGES: Dict[tuple, Dict[str, CocoImage]] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='COCO instances -> 81-class label PNGs, id '
                                     'list and image tags (WSSS COCO 2014).')
    parser.add_argument('--ann', required=True, help='instances_<split>.json')
    parser.add_argument('--img-dir', help='the split\'s images: each must exist at the size '
                        'the annotation file gives (default: not checked)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--crowd', choices=CROWD_MODES, default='ignore',
                        help='crowd regions: 255 where no instance lies (ignore, default) or '
                        'their category under the instances (class)')
    parser.add_argument('--keep-empty', action='store_true',
                        help='also convert images without annotations (all background; '
                        'default: left out, as in the WSSS splits)')
    parser.add_argument('--max-pixels', type=int_in(0, 1 << 30), default=DEFAULT_MAX_PIXELS,
                        help='an image the annotation file says is larger is bad input '
                        f'(default: {DEFAULT_MAX_PIXELS}; 0: no limit)')
    add_common_args(parser)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def load_images(ann: str, max_pixels: int) -> Dict[str, CocoImage]:
    """The instances file, parsed once per process."""
    if (ann, max_pixels) not in _IMAGES:
        _IMAGES[ann, max_pixels] = read_instances(ann, max_pixels or None)
    return _IMAGES[ann, max_pixels]


def process(name: str, ann: str, out: str, img_dir: Optional[str], crowd: str,
            max_pixels: int) -> None:
    image = load_images(ann, max_pixels)[name]
    if img_dir is not None:
        img_path = osp.join(img_dir, image.file_name)
        shape = image_shape(img_path, max_pixels or None)
        if shape != (image.height, image.width):
            raise SamWsssError(f'{img_path}: image is {shape[0]}x{shape[1]} (HxW) but {ann} '
                               f'says {image.height}x{image.width}; is it the image of this '
                               'annotation file?')
    label = instances_to_label(image, crowd, ann)
    write_label_png(osp.join(out, name + '.png'), label, palette=COCO_PALETTE)


def write_split_files(args: argparse.Namespace, images: Dict[str, CocoImage], names,
                      left_out: int) -> None:
    """``ids.txt``, ``cls_labels.json`` and ``coco_meta.json`` of the whole split."""
    with atomic_write(osp.join(args.out, IDS_NAME), 'w') as handle:
        handle.write(''.join(f'{name}\n' for name in names))
    with atomic_write(osp.join(args.out, CLS_LABELS_NAME), 'w') as handle:
        json.dump({name: image_tags(images[name]) for name in names}, handle)
    meta = dict(classes=list(COCO_CLASSES), palette=COCO_PALETTE.tolist(),
                category_to_class={str(category_id): index + 1 for index, (category_id, _)
                                   in enumerate(COCO_CATEGORIES)},
                ann=osp.abspath(args.ann), crowd=args.crowd, keep_empty=args.keep_empty,
                images=len(names), left_out_without_annotations=left_out,
                protocol='non-crowd instances painted largest first (the smaller keeps an '
                'overlap); crowd regions ' + ('255 where no instance lies' if args.crowd ==
                                             'ignore' else 'painted with their category first')
                + '; tags: every annotated category, crowd included')
    with atomic_write(osp.join(args.out, META_NAME), 'w') as handle:
        json.dump(meta, handle, indent=2)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    rank, world_size = dist_rank_world()
    OutputRecord(args.out, 'convert_coco', inputs={'--ann': args.ann, '--img-dir': args.img_dir},
                 settings=dict(crowd=args.crowd, keep_empty=args.keep_empty),
                 outputs=OUTPUTS).check_or_write(args.overwrite, rank, world_size)
    images = load_images(args.ann, args.max_pixels)
    tally = BadInputTally(args.skip_bad)
    bad = [image for image in images.values() if image.problem]
    if bad and not args.skip_bad:  # every rank stops at the first
        raise SamWsssError(bad[0].problem)
    for image in bad:  # counted by every rank, said once, and left out of the split
        if rank == 0:
            tally.record_bad(SamWsssError(image.problem))
        else:
            tally.bad.append(image.problem)
    names, left_out = split_images(images, args.keep_empty)
    check_output_ids(args.out, names, ('.png', ))
    if rank == 0:
        write_split_files(args, images, names, left_out)
    todo = names
    if args.ids:
        todo = read_ids(args.ids)
        unknown = [name for name in todo if name not in images]
        if unknown:
            raise SamWsssError(f'{args.ids}: {len(unknown)} ids are not images of {args.ann} '
                               f'(first: {unknown[0]!r}); ids are file names without .jpg')
        todo = [name for name in todo if not images[name].problem]  # counted above
    run_per_id(shard(todo, rank, world_size),
               partial(process, ann=args.ann, out=args.out, img_dir=args.img_dir,
                       crowd=args.crowd, max_pixels=args.max_pixels),
               lambda name: osp.isfile(osp.join(args.out, name + '.png')), tally,
               desc='COCO labels', workers=args.workers)
    print(f'{tally.summary()}; {len(names)} images in the split ({left_out} without '
          f'annotations left out{f", {len(bad)} bad left out" if bad else ""}); labels in '
          f'{args.out}')
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
