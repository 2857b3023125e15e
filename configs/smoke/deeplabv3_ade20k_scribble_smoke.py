# CPU smoke version of configs/sesam/deeplabv3_ade20k_scribble.py (SeSAM, semi-supervised):
# the same data, pipeline steps, losses, hook and optimiser, with the small model of
# ../_base_/models/smoke_r18.py as the segmentor (half-width ResNet-18, BN, no weights), 128 px
# crops, batch 4, no dataloader workers, 20 iterations (../_base_/schedules/smoke_20it.py), and
# the confidence ramp over the first iteration so that a short run trains on teacher labels too.
# It checks that the path runs; its numbers mean nothing. Used by the tests on a synthetic tree
# (tests/test_tools/test_benchmark_pipelines.py).
_base_ = [
    '../sesam/deeplabv3_ade20k_scribble.py',
    '../_base_/models/smoke_r18.py',
    '../_base_/schedules/smoke_20it.py',
]

crop_size = (128, 128)
scale = (256, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the SeSAM pseudo-label (data_prefix.seg_map_path)
    dict(type='LoadWeakLabel', num_classes=150),  # gt_weak_label, moved with seg_fields
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='StudentTeacherViews', student_transforms=[dict(type='PhotoMetricDistortion')]),
    dict(type='PackSemiSegInputs'),  # PackSegInputs + gt_weak_label + teacher_img
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),  # mmseg's raw val GT, as the full
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(segmentor={{_base_.smoke_deeplabv3}})
custom_hooks = [
    dict(type='SemiSupervisedHook', momentum=0.999, conf_ramp_iters=1),
]
train_cfg = {{_base_.smoke_train_cfg}}
param_scheduler = {{_base_.smoke_param_scheduler}}
default_hooks = {{_base_.smoke_default_hooks}}
