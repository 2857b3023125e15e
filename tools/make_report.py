"""Render the demo report: results table, picture grid and training-loss curves.

    python tools/make_report.py --out DIR --title T --table RESULTS.json [--classes classes.json]
        [--img-dir DIR [--img-suffix .jpg] [--gt-dir DIR] [--cam-dir DIR] [--masks PATH]
         [--enhanced-dir DIR] [--pred-dirs NAME=DIR ...] [--grid-rows 4] [--ids IDS.txt]
         [--allow-missing]] [--work-dirs NAME=WORK_DIR ...]

``--table`` is a JSON list of rows such as ``{"what": "CAM pseudo-labels (train)", "mIoU":
41.2}``; it is printed as a text table and written into ``DIR/report.html`` with
``DIR/report_grid.png`` (image | CAM pseudo-label | masks | enhanced label | GT | predictions,
one row per image) and ``DIR/report_curves.png`` (loss against iteration per work dir). The
masks column and the report name the mask source (e.g. "oracle-simulated, not SAM").
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmseg_sam_wsss.core.io import read_ids  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import DefaultsHelpFormatter, run_tool  # noqa: E402
from mmseg_sam_wsss.visualization.report import (GridInputs, format_text_table,  # noqa: E402
                                         load_table, parse_name_dirs, write_report)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Render the demo report (HTML + PNGs)',
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--title', required=True, help='report title')
    parser.add_argument('--table', required=True, help='JSON list of result rows')
    parser.add_argument('--classes', help='classes.json with "classes" and "palette" '
                        '(default: PASCAL VOC names and palette)')
    grid = parser.add_argument_group('picture grid (needs --img-dir)')
    grid.add_argument('--img-dir', help='images <id><img-suffix>')
    grid.add_argument('--img-suffix', default='.jpg', help='image suffix (default: .jpg)')
    grid.add_argument('--gt-dir', help='ground-truth label PNGs')
    grid.add_argument('--cam-dir', help='CAM pseudo-label PNGs')
    grid.add_argument('--masks', help='mask store directory or amg folder of class-agnostic '
                      'masks')
    grid.add_argument('--enhanced-dir', help='enhanced pseudo-label PNGs')
    grid.add_argument('--label-dirs', nargs='+', metavar='NAME=DIR',
                      help='other label PNG directories (weak labels, SeSAM rounds), one '
                      'column each, before the GT')
    grid.add_argument('--pred-dirs', nargs='+', metavar='NAME=DIR',
                      help='prediction PNG directories, one column each')
    grid.add_argument('--grid-rows', type=int, default=4,
                      help='images in the grid when --ids is not given (default: 4)')
    grid.add_argument('--ids', help='file with the image ids of the grid rows')
    grid.add_argument('--allow-missing', action='store_true',
                      help='draw a grey "none" panel where a column has no file for an id '
                      '(default: every column must have every id)')
    parser.add_argument('--work-dirs', nargs='+', metavar='NAME=DIR',
                        help='mmengine work dirs whose training loss is plotted')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    rows = load_table(args.table)
    grid_flags = (args.gt_dir, args.cam_dir, args.masks, args.enhanced_dir, args.pred_dirs,
                  args.label_dirs, args.ids)
    if args.img_dir is None and any(grid_flags):
        raise SamWsssError('the picture-grid flags need --img-dir (the images of the rows)')
    if args.grid_rows < 1:
        raise SamWsssError(f'--grid-rows must be at least 1, got {args.grid_rows}')
    grid_inputs = None
    if args.img_dir is not None:
        grid_inputs = GridInputs(
            img_dir=args.img_dir, gt_dir=args.gt_dir, cam_dir=args.cam_dir, masks=args.masks,
            enhanced_dir=args.enhanced_dir,
            pred_dirs=parse_name_dirs(args.pred_dirs, '--pred-dirs'),
            label_dirs=parse_name_dirs(args.label_dirs, '--label-dirs'),
            img_suffix=args.img_suffix, allow_missing=args.allow_missing)
    written = write_report(
        args.out, args.title, rows, grid_inputs=grid_inputs,
        image_ids=read_ids(args.ids) if args.ids else None, grid_rows=args.grid_rows,
        work_dirs=parse_name_dirs(args.work_dirs, '--work-dirs'), classes_json=args.classes)
    print(args.title)
    print(format_text_table(rows))
    for kind in ('html', 'grid', 'curves'):
        if kind in written:
            print(f'{kind}: {written[kind]}')
    return 0


if __name__ == '__main__':
    run_tool(main)
