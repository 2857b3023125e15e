"""Evaluate a folder of pseudo-label PNGs against ground truth: dataset mIoU per class.

    python tools/eval_pseudo_labels.py --pred VOC2012/pseudo_labels/transcam \
        --gt VOC2012/SegmentationClass --ids VOC2012/ImageSets/Segmentation/train.txt
    # per-class change of an enhanced label set, JSON, and 8 picture grids with masks:
    python tools/eval_pseudo_labels.py --pred CAM_DIR --gt GT_DIR --compare ENHANCED_DIR \
        --out work_dirs/eval.json --show 8 work_dirs/grids --img-dir VOC2012/JPEGImages \
        --masks work_dirs/mask_store

Labels are single-channel PNGs of class ids (255 = ignore in the ground truth; in a
prediction, 255 or any value >= --num-classes is "unlabelled" and counts as a miss of the
ground-truth class, as in mmseg's IoUMetric). The mIoU is dataset mIoU from one confusion
matrix over all images (see ``mmseg_sam_wsss/core/metrics.py``). With ``--compare``, A is
``--pred`` and B is ``--compare``; the change columns are ``B - A`` (positive: B is better).
The printout and the JSON name what made each folder (its tool and mask source, from its
``.provenance.json``). Nothing is written unless ``--out`` or ``--show`` is given; neither may lie
inside (or, for ``--show``, contain) an input folder. A prediction and its ground truth of
different sizes name the file that differs from the image (``--img-dir``, or JPEGImages next to
``--gt``). Exit 0, or 3 when ``--skip-bad`` skipped bad inputs (the mIoU is then over the rest).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
from typing import Dict, List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402

from mmseg_sam_wsss.core.io import (VOC_CLASSES, atomic_write, read_image,  # noqa: E402
                                    read_label_png)
from mmseg_sam_wsss.core.metrics import (ConfusionMatrix, metrics_from_confusion,  # noqa: E402
                                         metrics_to_json)
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.visualization.drawing import overlay_masks, render_grid  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (NUM_CLASSES, BadInputTally,  # noqa: E402
                                      add_common_args, document_ranges, int_in,
                                      iter_progress, resolve_ids, run_tool)
from mmseg_sam_wsss.utils.label_sources import folder_source, source_text  # noqa: E402
from mmseg_sam_wsss.utils.provenance import check_separate  # noqa: E402

SHOW_COUNT = int_in(1, 10000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Dataset mIoU, per-class IoU/precision/recall of pseudo-labels.')
    parser.add_argument('--pred', required=True, help='folder of <id>.png pseudo-labels')
    parser.add_argument('--gt', required=True, help='folder of <id>.png ground-truth labels')
    parser.add_argument('--num-classes', type=NUM_CLASSES, default=21,
                        help='(default: 21, VOC)')
    parser.add_argument('--class-names',
                        help='comma-separated names, or a text file with one name per line '
                        '(default: VOC names for 21 classes, else indices)')
    parser.add_argument('--compare', metavar='DIR2',
                        help='a second label folder (B) on the same ids; prints B - A per class, '
                        'A being --pred')
    parser.add_argument('--out', help='write the metrics as JSON here (atomic)')
    parser.add_argument('--show', nargs=2, metavar=('N', 'OUTDIR'),
                        help='render N picture grids (PNG) into OUTDIR: image | pseudo-label | '
                        f'masks | compare | GT (N: {SHOW_COUNT.text})')
    parser.add_argument('--img-dir', help='folder of <id>.jpg images for --show (default: '
                        'JPEGImages next to --gt, when it exists)')
    parser.add_argument('--masks', help='mask store or amg.py folder: adds a masks panel')
    add_common_args(parser, workers=False)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.show is not None:
        try:
            args.show[0] = SHOW_COUNT(args.show[0])
        except argparse.ArgumentTypeError as error:
            parser.error(f'argument --show N: {error}')
    return args


def default_img_dir(args: argparse.Namespace) -> str:
    """``--img-dir``, or ``JPEGImages`` next to ``--gt``."""
    return args.img_dir or osp.join(osp.dirname(osp.abspath(args.gt)), 'JPEGImages')


def image_size(img_dir: str, image_id: str) -> Optional[Tuple[int, int]]:
    """``(H, W)`` of ``img_dir/<id>.jpg`` from its header, or None when it cannot be read."""
    from PIL import Image
    try:
        with Image.open(osp.join(img_dir, f'{image_id}.jpg')) as image:
            return image.size[1], image.size[0]
    except (OSError, ValueError, SyntaxError):
        return None


def check_same_size(label: np.ndarray, path: str, gt: np.ndarray, gt_path: str,
                    image_id: str, args: argparse.Namespace) -> None:
    """Raise naming the file of the wrong size: the one that differs from the image, or both
    files when there is no image to tell."""
    if label.shape == gt.shape:
        return

    def size(shape) -> str:
        return f'{shape[0]}x{shape[1]}'

    image_shape = image_size(default_img_dir(args), image_id)
    if image_shape is None:
        raise SamWsssError(f'{path} is {size(label.shape)} (HxW) but the ground truth {gt_path} '
                           f'is {size(gt.shape)}; regenerate the one not at the image size')
    wrong = [(name, shape) for name, shape in ((path, label.shape), (gt_path, gt.shape))
             if tuple(shape) != image_shape]  # never empty: the two shapes differ
    raise SamWsssError('; '.join(f'{name} is {size(shape)} (HxW)' for name, shape in wrong) +
                       f' but its image is {size(image_shape)}; regenerate it at the image size')


def class_names_from(arg: Optional[str], num_classes: int) -> List[str]:
    """Class names from ``--class-names`` (list or file), VOC's, or indices."""
    if arg is None:
        return list(VOC_CLASSES) if num_classes == len(VOC_CLASSES) else [
            str(index) for index in range(num_classes)]
    if osp.isfile(arg):
        with open(arg, encoding='utf-8') as handle:
            names = [line.strip() for line in handle if line.strip()]
    else:
        names = [name.strip() for name in arg.split(',')]
    if len(names) != num_classes:
        raise SamWsssError(f'--class-names gives {len(names)} names but --num-classes is '
                           f'{num_classes}; give one name per class')
    return names


def format_table(metrics: Dict[str, object], class_names: List[str],
                 compare: Optional[Dict[str, object]] = None) -> str:
    """The per-class table (percent) and the summary lines as text."""
    def pct(value) -> str:
        return '   n/a' if np.isnan(value) else f'{100 * value:6.2f}'

    def delta(value) -> str:
        return '   n/a' if np.isnan(value) else f'{100 * value:+6.2f}'

    width = max(12, max(len(name) for name in class_names))
    header = f'{"class":<{width}}  IoU(A) Prec(A) Rec(A)' if compare is not None else \
        f'{"class":<{width}}    IoU   Prec    Rec'
    if compare is not None:
        header += '  | IoU(B) B-A IoU B-A Prec B-A Rec'
    lines = [header, '-' * len(header)]
    absent = []  # in neither the GT nor the labels (all n/a): one line, not a row each
    for index, name in enumerate(class_names):
        values = [metrics[key][index] for key in ('iou', 'precision', 'recall')]
        if compare is not None:
            values += [compare[key][index] for key in ('iou', 'precision', 'recall')]
        if all(np.isnan(value) for value in values):
            absent.append(name)
            continue
        if compare is None:
            row = (f'{name:<{width}} {pct(metrics["iou"][index])} '
                   f'{pct(metrics["precision"][index])} {pct(metrics["recall"][index])}')
        else:
            row = (f'{name:<{width}}  {pct(metrics["iou"][index])}  '
                   f'{pct(metrics["precision"][index])} {pct(metrics["recall"][index])}'
                   f'  | {pct(compare["iou"][index])}  '
                   f'{delta(compare["iou"][index] - metrics["iou"][index])}   '
                   f'{delta(compare["precision"][index] - metrics["precision"][index])}  '
                   f'{delta(compare["recall"][index] - metrics["recall"][index])}')
        lines.append(row)
    if absent:
        lines.append(f'({len(absent)} classes in neither the GT nor the labels: '
                     f'{", ".join(absent)})')
    lines.append('-' * len(header))
    for key, label in (('miou', 'mIoU'), ('pixel_accuracy', 'pixel acc'),
                       ('coverage', 'coverage')):
        row = f'{label:<{width}} {pct(metrics[key])}'
        if compare is not None:
            change = delta(compare[key] - metrics[key]).strip()
            row = (f'{label:<{width}}  A {pct(metrics[key]).strip()}, B '
                   f'{pct(compare[key]).strip()}, B - A {change}')
        lines.append(row)
    return '\n'.join(lines)


def render_examples(ids: List[str], args: argparse.Namespace, class_names: List[str],
                    tally: BadInputTally) -> None:
    """Write one picture grid per id into the --show folder (bad inputs go to ``tally``)."""
    num_images, out_dir = args.show
    check_output_ids(out_dir, ids[:num_images], ('.png', ), nested=True, out_flag='--show OUTDIR')
    img_dir = default_img_dir(args)
    if not osp.isdir(img_dir):
        raise SamWsssError(f'{img_dir}: image folder not found for --show; pass --img-dir')
    mask_source = None
    if args.masks:
        from mmseg_sam_wsss.core.mask_store import open_mask_source
        mask_source = open_mask_source(args.masks)
    written = 0
    for image_id in iter_progress(ids[:num_images], desc='grids'):
        try:
            render_example(image_id, img_dir, out_dir, mask_source, args, class_names)
            written += 1
        except SamWsssError as error:
            tally.record_bad(error)
    print(f'wrote {written} grids to {out_dir}')


def render_example(image_id: str, img_dir: str, out_dir: str, mask_source,
                   args: argparse.Namespace, class_names: List[str]) -> None:
    """One grid: image | pseudo-label | masks (with --masks) | compare | ground truth."""
    image = read_image(osp.join(img_dir, f'{image_id}.jpg'))
    gt = read_label_png(osp.join(args.gt, f'{image_id}.png'), args.num_classes, image.shape)
    pred = read_label_png(osp.join(args.pred, f'{image_id}.png'), args.num_classes, gt.shape)
    panels = [('image', image), (f'{_folder_name(args.pred)} ({image_miou(pred, gt, args)})',
                                 pred)]
    if mask_source is not None:
        mask_set = mask_source(image_id)
        masks = mask_set.decode()
        if masks.shape[1:] != image.shape[:2]:
            raise SamWsssError(
                f'{args.masks}: masks of {image_id!r} are {masks.shape[1]}x{masks.shape[2]} '
                f'but the image is {image.shape[0]}x{image.shape[1]}; regenerate the masks '
                'for these images')
        panels.append((f'masks: {mask_source.source} ({len(masks)})',
                       overlay_masks(image, masks)))
    if args.compare:
        enhanced = read_label_png(osp.join(args.compare, f'{image_id}.png'),
                                  args.num_classes, gt.shape)
        panels.append((f'{_folder_name(args.compare)} ({image_miou(enhanced, gt, args)})',
                       enhanced))
    panels.append(('ground truth', gt))
    render_grid(panels, osp.join(out_dir, f'{image_id}.png'), class_names=class_names,
                title=image_id)


def _folder_name(folder: str) -> str:
    return osp.basename(osp.normpath(folder))


def image_miou(pred: np.ndarray, gt: np.ndarray, args: argparse.Namespace) -> str:
    """This image's own mIoU as panel text."""
    confusion = ConfusionMatrix(args.num_classes)
    confusion.update(pred, gt)
    return f'mIoU {100 * confusion.summary()["miou"]:.1f}'


def main(argv=None) -> int:
    args = parse_args(argv)
    class_names = class_names_from(args.class_names, args.num_classes)
    for folder, flag in ((args.pred, '--pred'), (args.gt, '--gt'), (args.compare, '--compare')):
        if folder is not None and not osp.isdir(folder):
            raise SamWsssError(f'{folder}: {flag} folder not found')
    inputs = {'--pred': args.pred, '--gt': args.gt, '--compare': args.compare,
              '--img-dir': args.img_dir, '--masks': args.masks}
    if args.out:
        check_separate(args.out, inputs, '--out')
    if args.show is not None:
        check_separate(args.show[1], inputs, '--show OUTDIR')
    ids = resolve_ids(args.ids, args.gt, '.png')
    confusion = ConfusionMatrix(args.num_classes)
    compare_confusion = ConfusionMatrix(args.num_classes) if args.compare else None
    tally = BadInputTally(args.skip_bad)
    evaluated = []
    for image_id in iter_progress(ids, desc='evaluate'):
        try:
            gt_path = osp.join(args.gt, f'{image_id}.png')
            gt = read_label_png(gt_path, args.num_classes)
            pred_path = osp.join(args.pred, f'{image_id}.png')
            if not osp.isfile(pred_path):
                raise SamWsssError(f'{pred_path}: no pseudo-label for ground-truth id '
                                   f'{image_id!r}; generate it or drop the id from --ids')
            pred = read_label_png(pred_path, args.num_classes)
            check_same_size(pred, pred_path, gt, gt_path, image_id, args)
            other = None
            if args.compare:
                compare_path = osp.join(args.compare, f'{image_id}.png')
                other = read_label_png(compare_path, args.num_classes)
                check_same_size(other, compare_path, gt, gt_path, image_id, args)
        except SamWsssError as error:
            tally.record_bad(error)
            continue
        confusion.update(pred, gt, pred_path)
        if other is not None:
            compare_confusion.update(other, gt, image_id)
        evaluated.append(image_id)
        tally.done += 1
    if not evaluated:
        raise SamWsssError('no image could be evaluated; check --pred, --gt and --ids')
    metrics = metrics_from_confusion(confusion.matrix)
    compare = (metrics_from_confusion(compare_confusion.matrix)
               if compare_confusion is not None else None)
    pred_source = folder_source(args.pred)
    compare_source = folder_source(args.compare) if args.compare else None
    if compare_source is None:
        print(f'pred: {source_text(pred_source)}')
    else:
        print(f'A (--pred): {source_text(pred_source)}\nB (--compare): '
              f'{source_text(compare_source)}\nchanges below are B - A')
    print(f'{len(evaluated)} images evaluated, {len(tally.bad)} bad (skipped)')
    print(format_table(metrics, class_names, compare))
    if args.out:
        report = {'pred': osp.abspath(args.pred), 'pred_source': pred_source,
                  'gt': osp.abspath(args.gt),
                  'num_images': len(evaluated), 'num_bad': len(tally.bad),
                  'metric': 'dataset mIoU (one confusion matrix over all images)',
                  'metrics': metrics_to_json(metrics, class_names),
                  'confusion_matrix': confusion.matrix.tolist()}
        if compare is not None:
            report['compare'] = {'pred': osp.abspath(args.compare), 'source': compare_source,
                                 'changes': 'B - A: compare minus pred',
                                 'metrics': metrics_to_json(compare, class_names),
                                 'confusion_matrix': compare_confusion.matrix.tolist()}
        with atomic_write(args.out, 'w') as handle:
            json.dump(report, handle, indent=1)
        print(f'wrote {args.out}')
    if args.show is not None:
        render_examples(evaluated, args, class_names, tally)
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
