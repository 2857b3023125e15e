"""Generate the demo's procedural shape dataset in VOC layout (no download, deterministic).

    python tools/make_synthetic_dataset.py --out DIR [--num-train 160] [--num-val 60]
        [--size 128] [--seed 0] [--ignore-width 0] [--workers 1] [--overwrite]

Writes ``DIR/JPEGImages/<id>.jpg`` (RGB, quality 95), ``DIR/SegmentationClass/<id>.png`` (class
ids of the visible parts, VOC palette), ``DIR/SegmentationObject/<id>.png`` (visible instance
ids), ``DIR/ImageSets/Segmentation/{train,val}.txt``, ``DIR/cls_labels.json`` ({id: [foreground
class ids]}) and ``DIR/classes.json`` (class names, palette, settings). Classes: background,
disc, square, triangle, ring, star. The same ``--seed`` gives identical files; a rerun skips
finished scenes when ``DIR/.provenance.json`` shows the same seed and generator settings (more
scenes may be added), and is refused otherwise (``--overwrite`` replaces the dataset).
"""
import argparse
import functools
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmseg_sam_wsss.simulation.scenes import (SHAPE_CLASSES,  # noqa: E402
                                              SceneGenerator, scene_ids, scene_paths,
                                              write_dataset_metadata, write_scene)
from mmseg_sam_wsss.utils.cli import (SEED, WORKERS, BadInputTally,  # noqa: E402
                                      add_overwrite_arg, document_ranges, int_in, run_per_id,
                                      run_tool)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402

OUTPUTS = ('JPEGImages/*.jpg', 'SegmentationClass/*.png', 'SegmentationObject/*.png',
           'ImageSets/Segmentation/*.txt', 'cls_labels.json', 'classes.json')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Generate the procedural shape dataset (VOC layout) for the demo')
    parser.add_argument('--out', required=True, help='dataset root to write')
    parser.add_argument('--num-train', type=int_in(1, 9999), default=160,
                        help='train images (default: 160)')
    parser.add_argument('--num-val', type=int_in(1, 9999), default=60,
                        help='val images (default: 60)')
    parser.add_argument('--size', type=int_in(32, 2048), default=128,
                        help='image side in px (default: 128)')
    parser.add_argument('--seed', type=SEED, default=0, help='dataset seed (default: 0)')
    parser.add_argument('--max-objects', type=int_in(1, 16), default=4,
                        help='most shapes per image (default: 4)')
    parser.add_argument('--ignore-width', type=int_in(0, 32), default=0,
                        help='width of a 255 (ignore) band around object borders, like VOC\'s '
                        '~5 px; 0 = none (default: 0)')
    parser.add_argument('--workers', type=WORKERS, default=1,
                        help='worker processes (default: 1)')
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    generator = SceneGenerator(size=args.size, max_objects=args.max_objects,
                               ignore_width=args.ignore_width)
    settings = dict(seed=args.seed, size=args.size, generator=dict(vars(generator)))
    OutputRecord(args.out, 'make_synthetic_dataset', inputs={}, settings=settings,
                 outputs=OUTPUTS).check_or_write(args.overwrite)
    ids_by_split = dict(train=scene_ids('train', args.num_train),
                        val=scene_ids('val', args.num_val))
    all_ids = ids_by_split['train'] + ids_by_split['val']
    tally = run_per_id(
        all_ids, functools.partial(write_scene, args.out, generator=generator, seed=args.seed),
        is_done=lambda image_id: osp.isfile(scene_paths(args.out, image_id)['label']),
        tally=BadInputTally(skip_bad=False), desc='scenes', workers=args.workers)
    cls_labels = write_dataset_metadata(args.out, ids_by_split, settings)
    counts = [sum(class_id in ids for ids in cls_labels.values())
              for class_id in range(1, len(SHAPE_CLASSES))]
    print(f'{tally.summary()}; {len(all_ids)} scenes in {args.out}')
    print('images per class: ' + ', '.join(
        f'{name} {count}' for name, count in zip(SHAPE_CLASSES[1:], counts)))
    return 0


if __name__ == '__main__':
    run_tool(main)
