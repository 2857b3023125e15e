# DeepLabV3-R50 on PASCAL VOC 2012 from image-level tags, trained on SAM-enhanced pseudo-labels
# (SEPL, Chen et al. 2023): CAM pseudo-labels select and combine SAM's object masks, online in the
# data pipeline. It is mmseg's DeepLabV3 VOC train_aug config; only the training dataset (the
# pseudo-labels of the 10,582 train_aug ids) and two pipeline lines (LoadSAMMasks,
# SAMEnhancePseudoLabel) differ.
#
# Expects under data/VOCdevkit/VOC2012 (mmseg's usual place):
#   JPEGImages/, SegmentationClass/ (val GT), ImageSets/Segmentation/{trainaug,val}.txt
#                                (trainaug.txt: mmseg's tools/dataset_converters/voc_aug.py),
#   pseudo_labels/cam/<id>.png   CAM pseudo-labels of the train_aug ids from any WSSS method
#                                (class ids, 255 = ignore), e.g. from tools/generate_cams.py,
#   sam_masks/                   SAM masks for the same ids, from tools/generate_sam_masks.py
#                                (a mask store, or segment-anything's amg.py folder layout).
# The 1,464 VOC train images only:
#   --cfg-options train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt
# Weights: model.pretrained='open-mmlab://resnet50_v1c' (mmseg's ImageNet ResNet-50-V1c), which
# mmengine downloads on first use (into ~/.cache/torch); offline, pass a local copy,
# --cfg-options model.pretrained=/path/to/resnet50_v1c.pth, or model.pretrained=None to train from
# scratch (tools/train.py then warns: expect a far lower mIoU).
# Run:
#   python tools/train.py configs/sam_wsss/deeplabv3_voc.py
#   python tools/test.py configs/sam_wsss/deeplabv3_voc.py work_dirs/deeplabv3_voc/iter_20000.pth
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
default_scope = 'mmseg'

data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the CAM pseudo-label
    dict(type='LoadSAMMasks', mask_root=data_root + '/sam_masks'),
    dict(type='SAMEnhancePseudoLabel', rule='sepl', num_classes=21),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='pseudo_labels/cam'),
        ann_file='ImageSets/Segmentation/trainaug.txt',
        pipeline=train_pipeline))
