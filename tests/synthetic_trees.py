"""Small synthetic dataset trees in the layouts of COCO 2014, Cityscapes and ADE20K, written by
the tests (a few tiny images each, with known labels). Not real data: they check the wiring of
the converters, datasets, tools and configs, and their numbers mean nothing.

The tests import it as ``synthetic_trees`` (pytest puts ``tests/`` on ``sys.path``).
"""
import json
import os
import os.path as osp
from typing import Dict

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from mmseg_sam_wsss.core.coco import COCO_CATEGORIES

COCO_SIZE = (48, 64)  # (H, W)
# Category ids (COCO's): person 1 -> class 1, car 3 -> 3, dog 18 -> 17, cat 17 -> 16,
# toothbrush 90 -> 80.
PERSON, CAR, CAT, DOG, TOOTHBRUSH = 1, 3, 17, 18, 90


def _image(height: int, width: int, seed: int, grey: bool = False) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    pixels[height // 4:3 * height // 4, width // 4:3 * width // 4] //= 3
    image = Image.fromarray(pixels)
    return image.convert('L') if grey else image


def _box(x0: float, y0: float, x1: float, y1: float) -> list:
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def make_coco_tree(root: str) -> Dict[str, str]:
    """``root/{train2014,val2014}/*.jpg`` and ``root/annotations/instances_*.json``.

    train2014: ``..._000000000001`` a person with a dog in front of it (overlap) and a toothbrush;
    ``..._000000000002`` a GREYSCALE image with a car and a crowd of people over part of it
    (compressed RLE); ``..._000000000003`` no annotation (left out of the split);
    ``..._000000000004`` a cat as an uncompressed RLE. val2014: two images with a person / a car.
    """
    height, width = COCO_SIZE
    categories = [dict(id=category_id, name=name, supercategory='x')
                  for category_id, name in COCO_CATEGORIES]
    crowd = np.zeros((height, width), np.uint8, order='F')
    crowd[:, 40:] = 1
    crowd_rle = mask_utils.encode(np.asfortranarray(crowd))
    crowd_rle['counts'] = crowd_rle['counts'].decode('ascii')
    cat = np.zeros((height, width), np.uint8)
    cat[10:30, 20:40] = 1
    runs, previous, count = [], 0, 0
    for value in cat.flatten(order='F'):
        if value != previous:
            runs.append(count)
            previous, count = value, 0
        count += 1
    runs.append(count)
    splits = {
        'train2014': [
            (1, False, [(PERSON, _box(4, 4, 44, 44), 0), (DOG, _box(20, 20, 36, 40), 0),
                        (TOOTHBRUSH, _box(50, 4, 60, 14), 0)]),
            (2, True, [(CAR, _box(30, 10, 50, 30), 0), (PERSON, crowd_rle, 1)]),
            (3, False, []),
            (4, False, [(CAT, {'counts': runs, 'size': [height, width]}, 0)]),
        ],
        'val2014': [
            (1, False, [(PERSON, _box(10, 10, 40, 40), 0)]),
            (2, False, [(CAR, _box(5, 5, 30, 20), 0)]),
        ],
    }
    paths = {}
    for split, entries in splits.items():
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for number, grey, instances in entries:
            file_name = f'COCO_{split}_{number:012d}.jpg'
            _image(height, width, number, grey).save(osp.join(root, split, file_name))
            images.append(dict(id=number, file_name=file_name, height=height, width=width))
            for category_id, segmentation, iscrowd in instances:
                if isinstance(segmentation, list):
                    rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
                elif isinstance(segmentation['counts'], list):
                    rle = mask_utils.frPyObjects(segmentation, height, width)
                else:
                    rle = dict(segmentation, counts=segmentation['counts'].encode('ascii'))
                annotations.append(dict(id=len(annotations) + 100 * number, image_id=number,
                                        category_id=category_id, segmentation=segmentation,
                                        iscrowd=iscrowd, area=float(mask_utils.area(rle)),
                                        bbox=[0, 0, 1, 1]))
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
        path = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(dict(images=images, annotations=annotations, categories=categories),
                      handle)
        paths[split] = path
    return paths


CITYSCAPES_SIZE = (32, 64)  # (H, W): Cityscapes' 1:2 aspect, tiny
CITYSCAPES_FRAMES = {'train': ['aachen/aachen_000000_000019', 'bochum/bochum_000000_000313'],
                     'val': ['frankfurt/frankfurt_000000_000294']}


def cityscapes_fine(seed: int) -> np.ndarray:
    """``(H, W) uint8`` train ids: sky (10) on top, building (2) with a car (13), road (0)."""
    height, width = CITYSCAPES_SIZE
    label = np.full((height, width), 2, np.uint8)
    label[:8] = 10
    label[20:] = 0
    label[14:24, 8 + 4 * seed:24 + 4 * seed] = 13
    label[0, 0] = 255
    return label


def make_cityscapes_tree(root: str) -> None:
    """mmseg's Cityscapes layout: two train cities and one val city, one frame each, with
    ``gtFine`` train ids and ``gtCoarse`` label ids (train only; road 7, building 11, sky 23,
    car 26, unlabelled 0 between the regions, as the official coarse polygons leave)."""
    height, width = CITYSCAPES_SIZE
    to_label_id = np.full(256, 0, np.uint8)
    to_label_id[[0, 2, 10, 13]] = [7, 11, 23, 26]
    for split, frames in CITYSCAPES_FRAMES.items():
        for seed, frame in enumerate(frames):
            city = frame.split('/')[0]
            for folder in ('leftImg8bit', 'gtFine', 'gtCoarse'):
                os.makedirs(osp.join(root, folder, split, city), exist_ok=True)
            _image(height, width, seed).save(
                osp.join(root, 'leftImg8bit', split, frame + '_leftImg8bit.png'))
            fine = cityscapes_fine(seed)
            Image.fromarray(fine).save(
                osp.join(root, 'gtFine', split, frame + '_gtFine_labelTrainIds.png'))
            if split == 'train':
                coarse = to_label_id[fine]
                coarse[6:10] = 0  # unlabelled bands between regions
                coarse[18:22] = 0
                Image.fromarray(coarse).save(
                    osp.join(root, 'gtCoarse', split, frame + '_gtCoarse_labelIds.png'))


ADE_SIZE = (40, 48)
ADE_IDS = {'training': ['ADE_train_00000001', 'ADE_train_00000002'],
           'validation': ['ADE_val_00000001']}


def ade_raw_label(seed: int) -> np.ndarray:
    """``(H, W) uint8`` raw ADE20K ids: wall 1, sky 3, flag 150, "other" 0 in a corner."""
    height, width = ADE_SIZE
    label = np.ones((height, width), np.uint8)
    label[:12] = 3
    label[20:32, 10 + 4 * seed:26 + 4 * seed] = 150
    label[-6:, -6:] = 0
    return label


def make_ade20k_tree(root: str) -> None:
    """mmseg's ADE20K layout (``images/``, ``annotations/`` with raw ids) and Scribbles4All-style
    scribble PNGs of the training images under ``root/s4a_scribbles`` (raw ids, 0 unlabelled)."""
    os.makedirs(osp.join(root, 's4a_scribbles'), exist_ok=True)
    for split, ids in ADE_IDS.items():
        for folder in ('images', 'annotations'):
            os.makedirs(osp.join(root, folder, split), exist_ok=True)
        for seed, image_id in enumerate(ids):
            height, width = ADE_SIZE
            _image(height, width, seed + 7).save(osp.join(root, 'images', split,
                                                          image_id + '.jpg'))
            raw = ade_raw_label(seed)
            Image.fromarray(raw).save(osp.join(root, 'annotations', split, image_id + '.png'))
            if split == 'training':
                scribble = np.zeros_like(raw)
                for row in (5, 16, 26, 36):
                    scribble[row, 2:-2] = raw[row, 2:-2]
                Image.fromarray(scribble).save(osp.join(root, 's4a_scribbles',
                                                        image_id + '.png'))


LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def benchmark_roots(root: str) -> Dict[str, str]:
    """``{'coco': ..., 'cityscapes': ..., 'ade20k': ...}``: where
    :func:`prepare_benchmark_inputs` puts each tree under ``root``."""
    return {name: osp.join(root, name) for name in ('coco', 'cityscapes', 'ade20k')}


def prepare_benchmark_inputs(root: str) -> Dict[str, str]:
    """The three trees under ``root`` with every file the shipped COCO, Cityscapes and ADE20K
    configs (full and smoke) read, at the configs' own relative paths where they have one.

    Made with the library (not the tools), from the GT, so they are measuring instruments, NOT
    SAM: COCO's CAM labels are the GT labels and its masks a GT-oracle store; the Cityscapes
    SeSAM labels come from the GT oracle answering prompts of the converted coarse labels; the
    ADE20K weak labels are scribbles synthesised from the reduced GT, the SeSAM labels the GT
    oracle's answers.

    Returns:
        dict: ``{'coco': root, 'cityscapes': root, 'ade20k': root}``.
    """
    from mmseg_sam_wsss.core import cityscapes
    from mmseg_sam_wsss.core.ade20k import reduce_zero_label
    from mmseg_sam_wsss.core.coco import (COCO_PALETTE, image_tags, instances_to_label,
                                          read_instances, split_images)
    from mmseg_sam_wsss.core.io import read_label_png, write_label_png
    from mmseg_sam_wsss.core.mask_store import MaskStore
    from mmseg_sam_wsss.core.rng import image_rng
    from mmseg_sam_wsss.core.sesam_select import SeSAMLabeler
    from mmseg_sam_wsss.simulation.mask_oracles import OracleMasks
    from mmseg_sam_wsss.simulation.prompt_oracles import OraclePromptAnswerer
    from mmseg_sam_wsss.simulation.weak_label_synthesis import make_weak_label

    roots = benchmark_roots(root)
    annotations = make_coco_tree(roots['coco'])
    oracle = OracleMasks()
    store = MaskStore(osp.join(roots['coco'], 'sam_masks', 'train2014'), create=True,
                      source=oracle.source, settings=oracle.settings)
    for split, path in annotations.items():
        images = read_instances(path)
        names, _ = split_images(images)
        out = osp.join(roots['coco'], 'labels', split)
        os.makedirs(out, exist_ok=True)
        with open(osp.join(out, 'ids.txt'), 'w', encoding='utf-8') as handle:
            handle.write(''.join(f'{name}\n' for name in names))
        with open(osp.join(out, 'cls_labels.json'), 'w', encoding='utf-8') as handle:
            json.dump({name: image_tags(images[name]) for name in names}, handle)
        for name in names:
            label = instances_to_label(images[name])
            write_label_png(osp.join(out, name + '.png'), label, palette=COCO_PALETTE)
            if split == 'train2014':
                write_label_png(osp.join(roots['coco'], 'pseudo_labels', 'cam', name + '.png'),
                                label, palette=COCO_PALETTE)
                store.write(name, oracle.generate(label, name))

    make_cityscapes_tree(roots['cityscapes'])
    for frame in CITYSCAPES_FRAMES['train']:
        split_dir = osp.join(roots['cityscapes'], '{}', 'train', frame)
        coarse = cityscapes.label_ids_to_train_ids(read_label_png(
            split_dir.format('gtCoarse') + cityscapes.COARSE_LABEL_IDS_SUFFIX))
        fine = read_label_png(split_dir.format('gtFine') + cityscapes.FINE_TRAIN_IDS_SUFFIX)
        write_label_png(osp.join(roots['cityscapes'], 'weak_labels', 'coarse', 'train',
                                 frame + '.png'), coarse)
        write_label_png(osp.join(roots['cityscapes'], 'sesam_labels', 'coarse', 'train',
                                 frame + '.png'),
                        SeSAMLabeler()(coarse, OraclePromptAnswerer(fine), rng=image_rng(0, frame)))

    make_ade20k_tree(roots['ade20k'])
    for image_id in ADE_IDS['training']:
        reduced = reduce_zero_label(read_label_png(osp.join(roots['ade20k'], 'annotations',
                                                            'training', image_id + '.png')))
        scribble, _ = make_weak_label(reduced, 'scribble', image_rng(0, image_id), min_area=1)
        write_label_png(osp.join(roots['ade20k'], 'weak_labels', 'scribble', 'training',
                                 image_id + '.png'), scribble)
        write_label_png(osp.join(roots['ade20k'], 'sesam_labels', 'scribble', 'training',
                                 image_id + '.png'),
                        SeSAMLabeler()(scribble, OraclePromptAnswerer(reduced),
                                       rng=image_rng(0, image_id)))
    return roots


def benchmark_data_options(config: str, roots: Dict[str, str]):
    """The ``--cfg-options`` that point a shipped COCO, Cityscapes or ADE20K config at the trees
    of :func:`prepare_benchmark_inputs` (only the data it reads), or None for other configs."""
    name = osp.basename(config)
    dataset = next((key for key in ('coco', 'cityscapes', 'ade20k') if f'_{key}' in name), None)
    if dataset is None:
        return None
    root = roots[dataset]
    options = [f'{loader}.dataset.data_root={root}' for loader in LOADERS]
    if name.startswith('cam_r50_coco'):
        tags = osp.join(root, 'labels', '{}', 'cls_labels.json')
        options += [f'{loader}.dataset.pipeline.LoadImageTags.cls_labels_file='
                    + tags.format('val2014' if loader == 'val_dataloader' else 'train2014')
                    for loader in LOADERS]
    if name.startswith('deeplabv3_coco'):
        options.append('train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root='
                       + osp.join(root, 'sam_masks', 'train2014'))
    return options


def make_voc_aug_tree(voc_mini: str, root: str, num_train: int = 3, num_aug: int = 3,
                      num_val: int = 2) -> Dict[str, list]:
    """mmseg's VOC train_aug layout (its ``voc_aug`` converter's output) from real voc_mini
    images: ``num_train`` ids with VOC GT in ``SegmentationClass`` (``train.txt``), ``num_aug``
    more with SBD-style GT only in ``SegmentationClassAug`` (``aug.txt``: no 255 boundaries,
    as SBD has none), ``trainaug.txt`` = both, and ``num_val`` val ids. Images are links.

    Returns:
        dict: ``{'train': ids, 'aug': ids, 'val': ids}``.
    """
    from mmseg_sam_wsss.core.io import read_ids, read_label_png, write_label_png

    split_dir = osp.join(voc_mini, 'ImageSets', 'Segmentation')
    train_ids = read_ids(osp.join(split_dir, 'train.txt'))
    ids = {'train': train_ids[:num_train], 'aug': train_ids[num_train:num_train + num_aug],
           'val': read_ids(osp.join(split_dir, 'val.txt'))[:num_val]}
    for name in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
                 osp.join('ImageSets', 'Segmentation')):
        os.makedirs(osp.join(root, name), exist_ok=True)
    for split, split_ids in ids.items():
        for image_id in split_ids:
            os.symlink(osp.join(voc_mini, 'JPEGImages', image_id + '.jpg'),
                       osp.join(root, 'JPEGImages', image_id + '.jpg'))
            label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
            if split == 'aug':
                label = np.where(label == 255, 0, label).astype(np.uint8)
            folder = 'SegmentationClassAug' if split == 'aug' else 'SegmentationClass'
            write_label_png(osp.join(root, folder, image_id + '.png'), label)
    lists = dict(ids, trainaug=ids['train'] + ids['aug'])
    for split, split_ids in lists.items():
        with open(osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt'), 'w',
                  encoding='utf-8') as handle:
            handle.write(''.join(f'{image_id}\n' for image_id in split_ids))
    return ids
