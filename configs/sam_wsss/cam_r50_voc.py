# CAM stage: a ResNet-50 (ResNetV1c, output stride 16) multi-label classifier trained from
# image-level tags with CAMHead (Zhou et al. 2016) on VOC 2012 train_aug (10,582 images);
# testing reports the CAM pseudo-label mIoU on VOC train (1,464 images with VOC GT).
#   python tools/train.py configs/sam_wsss/cam_r50_voc.py
#   python tools/test.py configs/sam_wsss/cam_r50_voc.py work_dirs/cam_r50_voc/iter_5000.pth
#   python tools/generate_cams.py configs/sam_wsss/cam_r50_voc.py \
#       work_dirs/cam_r50_voc/iter_5000.pth --out work_dirs/cam_r50_voc/cams --split trainaug
# Expects data/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,SegmentationClassAug,
# ImageSets/Segmentation/{train,val,trainaug}.txt} (SegmentationClassAug and trainaug.txt: mmseg's
# tools/dataset_converters/voc_aug.py from SBD; see configs/_base_/datasets/voc12aug.py). The 1,464
# VOC train images only: --cfg-options train_dataloader.dataset.ann_file=ImageSets/Segmentation/
# train.txt, and generate_cams.py --split train.
# Tags come from the labels (classes present, 0 and 255 excluded; only the tags are used for
# training) or from a cls_labels file: --cfg-options
# {train,val,test}_dataloader.dataset.pipeline.LoadImageTags.cls_labels_file=FILE.
# The test split is train.txt: CAM pseudo-labels are made for, and scored on, the training set.
# Weights: model.pretrained='open-mmlab://resnet50_v1c' (mmseg's ImageNet ResNet-50-V1c), which
# mmengine downloads on first use (into ~/.cache/torch); offline, pass a local copy,
# --cfg-options model.pretrained=/path/to/resnet50_v1c.pth, or model.pretrained=None to train from
# scratch (tools/train.py then warns: expect a far lower mIoU).
# mmpretrain backbones work through the scope prefix (mmengine imports mmpretrain itself); set
# model.pretrained=None then (their weights come through the backbone's init_cfg), e.g.
#   model.backbone = dict(type='mmpretrain.ResNet', depth=50, out_indices=(3, ))
#   model.backbone = dict(type='mmpretrain.VisionTransformer', arch='deit-small', img_size=512,
#                         out_type='featmap', out_indices=[-1])  # decode_head in/channels=384
_base_ = [
    '../_base_/datasets/voc12aug.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
default_scope = 'mmseg'

crop_size = (512, 512)
num_classes = 21
bg_thresh = 0.15
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
             'flip', 'flip_direction', 'reduce_zero_label', 'image_tags')
# LoadImageTags must come before any crop or resize: tags describe the whole image.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageTags', num_classes=num_classes, cls_labels_file=None),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),  # after Resize: GT (and tags) at the original resolution
    dict(type='LoadImageTags', num_classes=num_classes, cls_labels_file=None),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(  # VOCAugDataset: generate_cams.py --split trainaug reads SBD's labels too
        type='VOCAugDataset', data_root='data/VOCdevkit/VOC2012',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        fallback_seg_map_path='SegmentationClassAug',
        ann_file='ImageSets/Segmentation/train.txt', pipeline=test_pipeline))

norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor', size=crop_size, mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255)
model = dict(
    type='CAMSegmentor',
    data_preprocessor=data_preprocessor,
    pretrained='open-mmlab://resnet50_v1c',
    backbone=dict(
        type='ResNetV1c', depth=50, num_stages=4, out_indices=(3, ), dilations=(1, 1, 1, 2),
        strides=(1, 2, 2, 1), norm_cfg=norm_cfg, norm_eval=False, style='pytorch',
        contract_dilation=True),
    decode_head=dict(
        type='CAMHead', in_channels=2048, in_index=0, channels=2048, num_classes=num_classes,
        pool='avg', bg_thresh=bg_thresh, dropout_ratio=0.0, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0,
                         loss_name='loss_cls')),
    train_cfg=dict(),
    test_cfg=dict(mode='whole', scales=(1.0, ), flip=False))

# IRN-style: the freshly initialised classifier learns 10x faster than the backbone.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
max_iters = 5000
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=1000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1000))
