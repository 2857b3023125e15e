"""The PASCAL VOC and MS-COCO set-ups: their layouts, training ids and configs, for the SEPL
stages (and, on VOC, the SeSAM ones with ``--weak``)."""
import argparse
import os
import os.path as osp
from typing import Callable, List

from ..core.io import VOC_AUG_HELP, read_ids
from ..errors import SamWsssError
from ..utils.stages import Stage
from .common import (LOADERS, REPO_ROOT, Paths, config_iters, config_options, ids_stage,
                     quick_config, quick_title, write_lines)
from .sepl import SeplRun, sepl_stages
from .sesam import SesamRun, sesam_stages

VOC_CAM_CONFIG = 'configs/sam_wsss/cam_r50_voc.py'
VOC_CAM_SEG_CONFIG = 'configs/baselines/deeplabv3_r50_voc.py'
VOC_SAM_SEG_CONFIG = 'configs/sam_wsss/deeplabv3_voc.py'
COCO_CAM_CONFIG = 'configs/sam_wsss/cam_r50_coco.py'
COCO_CAM_SEG_CONFIG = 'configs/baselines/deeplabv3_r50_coco.py'
COCO_SAM_SEG_CONFIG = 'configs/sam_wsss/deeplabv3_coco.py'
SESAM_CONFIG = 'configs/sesam/deeplabv3_voc_{}.py'


def voc_train_split(args: argparse.Namespace, root: str) -> str:
    """The id list of ``--train-split``; auto: trainaug.txt when present, else train.txt."""
    split_dir = osp.join(root, 'ImageSets', 'Segmentation')
    split = args.train_split
    if split == 'auto':
        split = 'trainaug' if osp.isfile(osp.join(split_dir, 'trainaug.txt')) else 'train'
        if split == 'train':
            print(f'{split_dir}/trainaug.txt not found: training on train.txt (VOC 2012: 1,464 '
                  'images; WSSS papers use train_aug, 10,582, from mmseg\'s '
                  'tools/dataset_converters/voc_aug.py; README, "PASCAL VOC train_aug")',
                  flush=True)
    path = osp.join(split_dir, f'{split}.txt')
    if not osp.isfile(path):
        raise SamWsssError(f'--train-split {split}: {path} not found; '
                           + (VOC_AUG_HELP if split == 'trainaug' else 'pass a VOC 2012 layout'))
    return path


def voc_gt_links(root: str, gt_dir: str) -> Callable[[List[str]], None]:
    """Link each training id's GT (``SegmentationClass``, else SBD's ``SegmentationClassAug``)
    into ``gt_dir``: one folder the oracles, weak labels and report read for train_aug."""
    def link(ids: List[str]) -> None:
        os.makedirs(gt_dir, exist_ok=True)
        for image_id in ids:
            target = osp.join(gt_dir, image_id + '.png')
            if osp.lexists(target):
                continue
            sources = [osp.join(root, folder, image_id + '.png')
                       for folder in ('SegmentationClass', 'SegmentationClassAug')]
            source = next((path for path in sources if osp.isfile(path)), None)
            if source is None:
                raise SamWsssError(f'{image_id}: no GT label ({" nor ".join(sources)}); '
                                   f'{VOC_AUG_HELP}')
            os.symlink(osp.abspath(source), target)
    return link


def voc_stages(args: argparse.Namespace, paths: Paths) -> List[Stage]:
    root = args.data_root
    voc_gt, img_dir = osp.join(root, 'SegmentationClass'), osp.join(root, 'JPEGImages')
    train_txt = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    for needed in (voc_gt, img_dir, train_txt):
        if not osp.exists(needed):
            raise SamWsssError(f'--data-root {args.data_root}: {needed} not found; pass a VOC '
                               '2012 layout (JPEGImages, SegmentationClass, ImageSets/'
                               'Segmentation/{train,val}.txt)')
    split_ids = voc_train_split(args, root)
    gt_dir = paths('gt')  # links to SegmentationClass / SegmentationClassAug
    score_ids = paths('ids', 'score.txt')
    link = voc_gt_links(root, osp.join(REPO_ROOT, gt_dir))

    def links_and_score_ids(ids: List[str]) -> List[str]:
        link(ids)
        voc_train = set(read_ids(train_txt))  # scored where VOC's own GT is: train.txt's ids
        scored = [image_id for image_id in ids if image_id in voc_train]
        write_lines(score_ids, scored)
        return scored

    stages = [ids_stage(args, paths, split_ids, links_and_score_ids, [score_ids])]
    split = osp.splitext(osp.basename(split_ids))[0]
    if args.weak:
        semi_config = quick_config(args, SESAM_CONFIG.format(args.weak))
        iters = config_iters(args, 'seg', semi_config)
        return stages + sesam_stages(args, paths, SesamRun(
            gt_dir=gt_dir, img_dir=img_dir, train_ids=args.train_ids,
            grid_ids=paths('ids', 'report.txt'), num_classes=21, class_names=None,
            seg_config=quick_config(args, VOC_CAM_SEG_CONFIG), semi_config=semi_config,
            seg_options=config_options(args, iters), iters=iters, baselines=False,
            title=f'SeSAM from {args.weak} labels on {root} ({split}){quick_title(args)}; '
            'pictures: train images'))
    return stages + sepl_stages(args, paths, SeplRun(
        img_dir=img_dir, gt_dir=gt_dir, train_ids=args.train_ids,
        score_ids=score_ids, score_name='train', num_classes=21, class_names=None,
        cam_config=VOC_CAM_CONFIG, cam_seg_config=VOC_CAM_SEG_CONFIG,
        sam_seg_config=VOC_SAM_SEG_CONFIG, cam_options=[],
        cam_seg_options=['train_dataloader.dataset.fallback_seg_map_path=None'],
        default_cam_dir=osp.join(args.data_root_abs, 'pseudo_labels', 'transcam'),
        title=f'SAM-enhanced pseudo-labels on {root} ({split}){quick_title(args)}; pictures: '
        'train images', grid_ids=paths('ids', 'report.txt')))


def coco_stages(args: argparse.Namespace, paths: Paths) -> List[Stage]:
    """COCO 2014 (81 classes) after ``tools/convert_coco.py``: the SEPL stages on train2014."""
    from mmseg_sam_wsss.core.coco import COCO_CLASSES

    root = args.data_root
    labels = osp.join(root, 'labels', '{}')
    for needed in (osp.join(root, 'train2014'), osp.join(root, 'val2014'),
                   osp.join(labels.format('train2014'), 'ids.txt'),
                   osp.join(labels.format('train2014'), 'cls_labels.json'),
                   osp.join(labels.format('val2014'), 'ids.txt')):
        if not osp.exists(needed):
            raise SamWsssError(f'--data-root {args.data_root}: {needed} not found; pass a COCO '
                               '2014 tree (train2014/, val2014/) converted with '
                               'tools/convert_coco.py into labels/{train2014,val2014}/ '
                               '(README, "COCO")')
    tags = osp.join(args.data_root_abs, 'labels', '{}', 'cls_labels.json')
    cam_options = [f'{loader}.dataset.pipeline.LoadImageTags.cls_labels_file='
                   + tags.format('val2014' if loader == 'val_dataloader' else 'train2014')
                   for loader in LOADERS]
    gt_dir = labels.format('train2014')
    return [ids_stage(args, paths, osp.join(gt_dir, 'ids.txt'))] + sepl_stages(
        args, paths, SeplRun(
            img_dir=osp.join(root, 'train2014'), gt_dir=gt_dir,
            train_ids=args.train_ids, score_ids=args.train_ids, score_name='train2014',
            num_classes=len(COCO_CLASSES), class_names=COCO_CLASSES,
            cam_config=COCO_CAM_CONFIG, cam_seg_config=COCO_CAM_SEG_CONFIG,
            sam_seg_config=COCO_SAM_SEG_CONFIG, cam_options=cam_options, cam_seg_options=[],
            default_cam_dir=osp.join(args.data_root_abs, 'pseudo_labels', 'cam'),
            title=f'SAM-enhanced pseudo-labels on {root} (COCO 2014, 81 classes)'
            f'{quick_title(args)}; pictures: train images', grid_ids=paths('ids', 'report.txt'),
            classes_json=osp.join(gt_dir, 'coco_meta.json'),
            grid_options=['test_dataloader.dataset.data_prefix.img_path=train2014',
                          'test_dataloader.dataset.data_prefix.seg_map_path=labels/train2014']))
