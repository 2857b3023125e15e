# Ablation of configs/demo/sesam_deeplabv3_r18_shapes.py: teacher and student see the same
# photometrically distorted view (no StudentTeacherViews), as before the two views existed.
# Everything else is inherited (benchmarks/bench_sesam_demo.py compares the two).
_base_ = ['./sesam_deeplabv3_r18_shapes.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadWeakLabel', num_classes={{_base_.num_classes}}),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSemiSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
