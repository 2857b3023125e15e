# CPU smoke version of configs/baselines/deeplabv3_r50_coco.py (DeepLabV3 on any label folder of
# COCO 2014, 81 classes): the same data, pipeline steps, heads and optimiser, with the small model
# of ../_base_/models/smoke_r18.py (half-width ResNet-18, BN, no weights), 128 px crops, batch 4,
# no dataloader workers and 20 iterations (../_base_/schedules/smoke_20it.py). It checks that the
# path runs; its numbers mean nothing. tools/run_pipeline.py coco --quick 1 uses it:
#   python tools/train.py configs/smoke/deeplabv3_r50_coco_smoke.py --cfg-options \
#       {train,val,test}_dataloader.dataset.data_root=COCO_ROOT \
#       train_dataloader.dataset.data_prefix.seg_map_path=LABELS
_base_ = [
    '../baselines/deeplabv3_r50_coco.py',
    '../_base_/models/smoke_r18.py',
    '../_base_/schedules/smoke_20it.py',
]

crop_size = (128, 128)
scale = (256, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
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
