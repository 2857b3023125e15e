# Demo segmentation stage on the procedural shape scenes: mmseg's DeepLabV3 (through
# configs/baselines/deeplabv3_r50_voc.py), changed only where the tiny CPU dataset needs it:
# 6 classes, 128 px images, a half-width ResNet-18-D8 (ResNetV1c, output stride 8) trained from
# scratch (hence lr 0.1), BN, ASPP rates scaled to the 16x16 feature map, and a schedule that
# fits the demo's CPU budget. It trains on whatever label folder data_prefix.seg_map_path names:
# the GT by default (full supervision), or pseudo-labels, e.g.
#   python tools/train.py configs/demo/deeplabv3_r18_shapes.py --work-dir work_dirs/demo/seg_cam \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=$PWD/LABELS
#   (LABELS e.g. work_dirs/demo/cam_labels/pseudo_labels; absolute, or it is read under data_root)
#   python tools/test.py configs/demo/deeplabv3_r18_shapes.py \
#       work_dirs/demo/seg_cam/iter_450.pth --out work_dirs/demo/preds/cam
# Validation and test use the val split with its GT. Expects work_dirs/demo/data (see
# configs/demo/cam_r18_shapes.py); elsewhere pass
#   --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR
_base_ = ['../baselines/deeplabv3_r50_voc.py']

data_root = 'work_dirs/demo/data'
num_classes = 6
crop_size = (128, 128)
max_iters = 450
metainfo = dict(
    classes=('background', 'disc', 'square', 'triangle', 'ring', 'star'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128]])
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
demo_dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
                    img_suffix='.jpg', seg_map_suffix='.png',
                    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'))
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, ann_file='ImageSets/Segmentation/train.txt',
                 pipeline=train_pipeline, **demo_dataset))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, ann_file='ImageSets/Segmentation/val.txt',
                 pipeline=test_pipeline, **demo_dataset))
test_dataloader = val_dataloader

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(depth=18, stem_channels=32, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256, channels=64, dilations=(1, 3, 6, 9),
                     num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=num_classes,
                        norm_cfg=norm_cfg))

# From scratch on purpose (procedural shapes, not photographs), so a larger learning rate than
# the ImageNet-initialised VOC config, and no warning from tools/train.py about missing weights.
from_scratch_ok = True
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters),
                     logger=dict(interval=10))
