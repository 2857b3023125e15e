# CPU smoke version of configs/sam_wsss/deeplabv3_coco.py (CAM labels enhanced online by SAM
# masks, 81 classes): the same data, pipeline steps, heads and optimiser, with the small model of
# ../_base_/models/smoke_r18.py (half-width ResNet-18, BN, no weights), 128 px crops, batch 4, no
# dataloader workers and 20 iterations (../_base_/schedules/smoke_20it.py). It checks that the
# path runs; its numbers mean nothing. Used by the tests on a synthetic COCO tree:
#   python tools/train.py configs/smoke/deeplabv3_coco_smoke.py --cfg-options \
#       {train,val,test}_dataloader.dataset.data_root=COCO_ROOT \
#       train_dataloader.dataset.data_prefix.seg_map_path=CAM_LABELS \
#       train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root=MASK_STORE
_base_ = [
    '../sam_wsss/deeplabv3_coco.py',
    '../_base_/models/smoke_r18.py',
    '../_base_/schedules/smoke_20it.py',
]

crop_size = (128, 128)
scale = (256, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the CAM pseudo-label
    dict(type='LoadSAMMasks', mask_root='data/coco2014/sam_masks/train2014'),
    dict(type='SAMEnhancePseudoLabel', rule='sepl', num_classes={{_base_.num_classes}}),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = {{_base_.smoke_deeplabv3}}
train_cfg = {{_base_.smoke_train_cfg}}
param_scheduler = {{_base_.smoke_param_scheduler}}
default_hooks = {{_base_.smoke_default_hooks}}
