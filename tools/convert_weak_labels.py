"""Convert published weak annotations to the project's weak-label layout.

    # "What's the Point" VOC 2012 clicks (+ background clicks), disks of radius 2:
    python tools/convert_weak_labels.py --format whats-the-point whats_the_point.json \
        --bg whats_the_point_bg.json --img-dir VOC2012/JPEGImages --out weak_labels/real_point
    # ScribbleSup PASCAL scribbles, one XML per image, drawn 3 px thick:
    python tools/convert_weak_labels.py --format scribblesup pascal_2012_scribbles/ \
        --img-dir VOC2012/JPEGImages --out weak_labels/real_scribble --thickness 3
    # any label PNGs (Scribbles4All, coarse labels): unlabelled value and a value map
    python tools/convert_weak_labels.py --format png s4a_labels/ --weak-type scribble \
        --ignore-value 0 --value-map 1=0 2=1 ... --out weak_labels/s4a [--img-dir DIR]

Writes ``OUT/<id>.png`` (class ids, 255 unlabelled; VOC palette), for clicks also ``OUT/<id>.json``
(``{"points": [[x, y, class_id], ...], "height", "width"}``), and ``OUT/weak_meta.json`` naming
the source files and options. Finished ids are skipped when ``OUT/.provenance.json`` says they
were made from the same sources and settings; otherwise the run is refused (``--overwrite``
replaces them). Every annotation file is untrusted: malformed JSON or XML, NaN, infinite,
non-numeric or out-of-image coordinates, class ids out of range, unknown class names, XML with
a DOCTYPE or ENTITY declaration, scribbles longer than 100 x (H + W), images or label PNGs
above ``--max-pixels``, wrong label values and missing images stop the run with one line
naming the file, or are counted and skipped with ``--skip-bad``.
The parsers are in ``mmseg_sam_wsss/core/weak_label_formats.py``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
from typing import List, Optional, Sequence  # noqa: E402

from mmseg_sam_wsss.core import weak_label_formats as formats  # noqa: E402
from mmseg_sam_wsss.core.io import (DEFAULT_MAX_PIXELS, VOC_CLASSES,  # noqa: E402
                                    atomic_write, list_ids, read_ids, read_label_png,
                                    write_label_png)
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.core.weak_labels import (WEAK_META_NAME, WEAK_TYPES,  # noqa: E402
                                             points_to_label, write_points_json)
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (NUM_CLASSES, BadInputTally, add_common_args,  # noqa: E402
                                      add_overwrite_arg, document_ranges, int_in, run_per_id,
                                      run_tool)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Convert published weak annotations (clicks, '
                                     'scribbles, label PNGs) to weak-label PNGs.')
    parser.add_argument('src', help='whats-the-point: the click JSON; scribblesup: folder of '
                        '<id>.xml; png: folder of <id><src-suffix>')
    parser.add_argument('--format', required=True, choices=formats.WEAK_LABEL_FORMATS)
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--img-dir', help='images <id><img-suffix>: their sizes (needed for '
                        'clicks and scribbles; for png, checks the label sizes)')
    parser.add_argument('--img-suffix', default='.jpg')
    parser.add_argument('--num-classes', type=NUM_CLASSES, default=21,
                        help='classes including background (default: 21, VOC)')
    parser.add_argument('--max-pixels', type=int_in(0, 1 << 30), default=DEFAULT_MAX_PIXELS,
                        help='an image or label PNG whose header says it is larger is bad '
                        f'input (default: {DEFAULT_MAX_PIXELS}; 0: no limit)')
    group = parser.add_argument_group('whats-the-point')
    group.add_argument('--bg', help='second click JSON of the same layout: background clicks '
                       '(an id missing from it has none)')
    group.add_argument('--radius', type=int_in(0, 64), default=2,
                       help='click disk radius in the PNG (default: 2, as make_weak_labels.py)')
    group = parser.add_argument_group('scribblesup')
    group.add_argument('--thickness', type=int_in(1, 128), default=3,
                       help='line width in pixels (default: 3)')
    group.add_argument('--class-names', help='comma-separated names in id order, or a file '
                       'with one per line (default: VOC, 0 = background)')
    group = parser.add_argument_group('png')
    group.add_argument('--weak-type', choices=WEAK_TYPES,
                       help='what the PNGs hold (needed for --format png)')
    group.add_argument('--src-suffix', default='.png')
    group.add_argument('--ignore-value', type=int_in(0, 255), default=255,
                       help='the source\'s "unlabelled" value (default: 255)')
    group.add_argument('--value-map', nargs='+', default=[], metavar='SRC=DST',
                       help='source value -> class id (or 255); others are kept')
    add_common_args(parser, workers=False)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.format in ('whats-the-point', 'scribblesup') and not args.img_dir:
        parser.error(f'--format {args.format} needs --img-dir (the image sizes)')
    if args.format == 'png' and not args.weak_type:
        parser.error('--format png needs --weak-type point|scribble|coarse')
    if args.bg and args.format != 'whats-the-point':
        parser.error('--bg is for --format whats-the-point')
    return args


def class_names_from(arg: Optional[str]) -> List[str]:
    """``--class-names`` as a list (a file with one name per line, or comma-separated)."""
    if arg is None:
        return list(VOC_CLASSES)
    if osp.isfile(arg):
        with open(arg, encoding='utf-8') as handle:
            return [line.strip() for line in handle if line.strip()]
    return [name.strip() for name in arg.split(',') if name.strip()]


class Converter:
    """Converts one id of the chosen format and writes its outputs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.clicks = self.bg_clicks = None
        if args.format == 'whats-the-point':
            self.clicks = formats.read_click_file(args.src)
            self.bg_clicks = formats.read_click_file(args.bg) if args.bg else {}
        elif not osp.isdir(args.src):
            raise SamWsssError(f'{args.src}: --format {args.format} reads a folder of '
                               'annotation files; the folder is not there')
        self.class_ids = formats.class_name_map(class_names_from(args.class_names))
        self.value_map = formats.parse_value_map(args.value_map)

    def ids(self) -> List[str]:
        """``--ids``, or every id of the source."""
        if self.args.ids:
            return read_ids(self.args.ids)
        if self.clicks is not None:
            return sorted(self.clicks)
        suffix = '.xml' if self.args.format == 'scribblesup' else self.args.src_suffix
        return list_ids(self.args.src, suffix)

    def image_shape(self, image_id: str) -> Optional[Sequence[int]]:
        if not self.args.img_dir:
            return None
        return formats.image_shape(osp.join(self.args.img_dir, image_id + self.args.img_suffix),
                                   self.args.max_pixels or None)

    def outputs(self, image_id: str) -> List[str]:
        names = [image_id + '.png'] + ([image_id + '.json']
                                       if self.args.format == 'whats-the-point' else [])
        return [osp.join(self.args.out, name) for name in names]

    def is_done(self, image_id: str) -> bool:
        return all(osp.isfile(path) for path in self.outputs(image_id))

    def __call__(self, image_id: str) -> None:
        args = self.args
        shape = self.image_shape(image_id)
        if args.format == 'whats-the-point':
            if image_id not in self.clicks:
                raise SamWsssError(f'{args.src}: no entry for image {image_id!r}')
            points = formats.clicks_to_points(self.clicks[image_id], shape, args.num_classes,
                                              f'{args.src} [{image_id}]')
            points += formats.clicks_to_points(self.bg_clicks.get(image_id, []), shape,
                                               args.num_classes, f'{args.bg} [{image_id}]')
            png_path, json_path = self.outputs(image_id)
            weak_label = points_to_label(points, shape, args.radius, png_path)
            write_points_json(json_path, points, shape)
        elif args.format == 'scribblesup':
            xml_path = osp.join(args.src, image_id + '.xml')
            scribbles = formats.parse_scribblesup_xml(formats.read_scribblesup_file(xml_path),
                                                      self.class_ids, xml_path)
            weak_label = formats.scribbles_to_label(scribbles, shape, args.thickness, xml_path)
        else:
            src_path = osp.join(args.src, image_id + args.src_suffix)
            weak_label = formats.remap_label(read_label_png(src_path, shape=shape,
                                                            max_pixels=args.max_pixels or None),
                                             self.value_map, args.ignore_value,
                                             args.num_classes, src_path)
        write_label_png(self.outputs(image_id)[0], weak_label)

    def meta(self) -> dict:
        """What ``weak_meta.json`` records: the source and every option that shapes labels."""
        args = self.args
        weak_type = dict(zip(formats.WEAK_LABEL_FORMATS, ('point', 'scribble'))).get(
            args.format, args.weak_type)
        if args.format == 'whats-the-point':
            options = dict(radius=args.radius)
        elif args.format == 'scribblesup':
            options = dict(thickness=args.thickness, class_names=class_names_from(
                args.class_names))
        else:
            options = dict(src_suffix=args.src_suffix, ignore_value=args.ignore_value,
                           value_map={str(k): v for k, v in sorted(self.value_map.items())})
        return dict(weak_type=weak_type, source='converted', format=args.format,
                    src=osp.abspath(args.src), bg=osp.abspath(args.bg) if args.bg else None,
                    img_dir=osp.abspath(args.img_dir) if args.img_dir else None,
                    num_classes=args.num_classes, options=options,
                    pixel='(row, col) = (floor(y), floor(x)); the far edge is the last pixel')


def main(argv=None) -> int:
    args = parse_args(argv)
    converter = Converter(args)
    ids = converter.ids()
    check_output_ids(args.out, ids, ('.png', '.json'))
    meta = converter.meta()
    # Checked before anything is written: a rerun from other sources or settings is refused,
    # never resumed into labels of another conversion.
    OutputRecord(args.out, 'convert_weak_labels',
                 inputs={'SRC': args.src, '--bg': args.bg, '--img-dir': args.img_dir},
                 settings={key: meta[key] for key in ('weak_type', 'format', 'num_classes',
                                                      'options')},
                 outputs=['*.png', '*.json']).check_or_write(args.overwrite)
    with atomic_write(osp.join(args.out, WEAK_META_NAME), 'w') as handle:
        json.dump(meta, handle, indent=2)
    tally = run_per_id(ids, converter, converter.is_done, BadInputTally(args.skip_bad),
                       desc=f'{args.format} -> weak labels')
    print(f'{tally.summary()}; weak labels in {args.out}')
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
