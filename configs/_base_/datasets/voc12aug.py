# PASCAL VOC 2012 train_aug (10,582 training images, the WSSS protocol) in mmseg's layout under
# data/VOCdevkit/VOC2012: JPEGImages, SegmentationClass (VOC GT, train + val),
# SegmentationClassAug and ImageSets/Segmentation/{train,val,trainaug}.txt; SegmentationClassAug
# and trainaug.txt come from SBD through mmseg's tools/dataset_converters/voc_aug.py (README,
# "PASCAL VOC train_aug"). VOCAugDataset reads each training label from SegmentationClass, else
# SegmentationClassAug (mmseg's own voc12aug base concatenates train.txt and aug.txt instead).
# The 1,464 VOC train images only:
#   --cfg-options train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt
# Point elsewhere with
#   --cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=... \
#                 test_dataloader.dataset.data_root=...
# mmseg's own pipelines and evaluator are inherited unchanged.
_base_ = ['mmseg::_base_/datasets/pascal_voc12.py']

data_root = 'data/VOCdevkit/VOC2012'
train_dataloader = dict(
    num_workers=2,
    dataset=dict(
        type='VOCAugDataset',
        data_root=data_root,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        fallback_seg_map_path='SegmentationClassAug'))
val_dataloader = dict(num_workers=2, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
