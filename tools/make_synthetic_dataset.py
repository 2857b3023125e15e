"""Generate the demo's procedural shape dataset in VOC layout (no download, deterministic).

    python tools/make_synthetic_dataset.py --out DIR [--num-train 160] [--num-val 60]
        [--size 128] [--seed 0] [--ignore-width 0] [--workers 1]

Writes ``DIR/JPEGImages/<id>.jpg`` (RGB, quality 95), ``DIR/SegmentationClass/<id>.png`` (class
ids of the visible parts, VOC palette), ``DIR/SegmentationObject/<id>.png`` (visible instance
ids), ``DIR/ImageSets/Segmentation/{train,val}.txt``, ``DIR/cls_labels.json`` ({id: [foreground
class ids]}) and ``DIR/classes.json`` (class names, palette, settings). Classes: background,
disc, square, triangle, ring, star. The same ``--seed`` gives identical files; a rerun skips
finished scenes.
"""
import argparse
import functools
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmseg_sam_wsss.simulation.scenes import (SHAPE_CLASSES,  # noqa: E402
                                                  SceneGenerator, check_existing_settings,
                                                  scene_ids, scene_paths, write_dataset_metadata,
                                                  write_scene)
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import BadInputTally, run_per_id, run_tool  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the procedural shape dataset (VOC layout) for the demo')
    parser.add_argument('--out', required=True, help='dataset root to write')
    parser.add_argument('--num-train', type=int, default=160, help='train images (default: 160)')
    parser.add_argument('--num-val', type=int, default=60, help='val images (default: 60)')
    parser.add_argument('--size', type=int, default=128, help='image side in px (default: 128)')
    parser.add_argument('--seed', type=int, default=0, help='dataset seed (default: 0)')
    parser.add_argument('--max-objects', type=int, default=4,
                        help='most shapes per image (default: 4)')
    parser.add_argument('--ignore-width', type=int, default=0,
                        help='width of a 255 (ignore) band around object borders, like VOC\'s '
                        '~5 px; 0 = none (default: 0)')
    parser.add_argument('--workers', type=int, default=1, help='worker processes (default: 1)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.num_train < 1 or args.num_val < 1:
        raise SamWsssError('--num-train and --num-val must be at least 1')
    generator = SceneGenerator(size=args.size, max_objects=args.max_objects,
                               ignore_width=args.ignore_width)
    settings = dict(seed=args.seed, size=args.size, generator=dict(vars(generator)))
    check_existing_settings(args.out, settings)
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
