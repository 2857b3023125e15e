# CPU smoke version of configs/sam_wsss/cam_r50_coco.py: the same data, pipeline steps, head and
# optimiser, with the small model of ../_base_/models/smoke_r18.py (half-width ResNet-18, BN, no
# weights), 128 px crops, batch 4, no dataloader workers and 20 iterations
# (../_base_/schedules/smoke_20it.py). It checks that the path runs; its numbers mean nothing.
# Used by the tests on a synthetic COCO tree (tests/test_tools/test_benchmark_pipelines.py):
#   python tools/train.py configs/smoke/cam_r50_coco_smoke.py --cfg-options \
#       {train,val,test}_dataloader.dataset.data_root=COCO_ROOT \
#       {train,test}_dataloader.dataset.pipeline.LoadImageTags.cls_labels_file=TRAIN_TAGS \
#       val_dataloader.dataset.pipeline.LoadImageTags.cls_labels_file=VAL_TAGS
_base_ = [
    '../sam_wsss/cam_r50_coco.py',
    '../_base_/models/smoke_r18.py',
    '../_base_/schedules/smoke_20it.py',
]

crop_size = (128, 128)
scale = (256, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageTags', num_classes={{_base_.num_classes}},
         cls_labels_file={{_base_.train_tags}}),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageTags', num_classes={{_base_.num_classes}},
         cls_labels_file={{_base_.train_tags}}),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=scale, keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='LoadImageTags', num_classes={{_base_.num_classes}},
             cls_labels_file={{_base_.val_tags}}),
        dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
    ]))
test_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))

model = {{_base_.smoke_cam}}
train_cfg = {{_base_.smoke_train_cfg}}
param_scheduler = {{_base_.smoke_param_scheduler}}
default_hooks = {{_base_.smoke_default_hooks}}
