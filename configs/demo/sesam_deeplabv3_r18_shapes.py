# Demo SeSAM stage on the procedural shape scenes: the demo DeepLabV3
# (configs/demo/deeplabv3_r18_shapes.py, same model, crops and schedule) trained semi-supervised
# as configs/sesam/_base_sesam_deeplabv3_voc.py does: weak labels + SeSAM pseudo-labels +
# confident labels of an EMA teacher (BalancedSemiLoss, SemiSupervisedHook). The teacher sees
# the clean crop, the student the photometrically distorted one (StudentTeacherViews). Two demo
# changes, both for the 450-iteration schedule: the hook's momentum cap is 0.99 instead of 0.999,
# and λ_conf ramps up over the first 150 iterations. The cap is not what the run uses: the
# hook's warm-up min(m, (1 + i) / (10 + i)) rises from 0.1 to 0.98 over the 450 iterations
# (0.98 at iteration 440; 0.99 only after 890), so the teacher averages over the last ~50.
# Semi-supervised variants (benchmarks/bench_sesam_demo.py):
#   --cfg-options model.semi_loss.normalize=per_source       (each source its own mean)
#   configs/demo/sesam_deeplabv3_r18_shapes_one_view.py      (teacher and student: one view)
#   --cfg-options model.predict_on=student                   (test the student, not the teacher)
#   python tools/make_weak_labels.py --gt work_dirs/demo/data/SegmentationClass --type point \
#       --num-classes 6 --out work_dirs/demo_point/weak \
#       --ids work_dirs/demo/data/ImageSets/Segmentation/train.txt
#   python tools/sesam_pseudo_labels.py --img-dir work_dirs/demo/data/JPEGImages \
#       --weak-dir work_dirs/demo_point/weak --out work_dirs/demo_point/sesam --round 1 \
#       --num-classes 6 --source oracle-imperfect --gt-dir work_dirs/demo/data/SegmentationClass
#   python tools/train.py configs/demo/sesam_deeplabv3_r18_shapes.py --cfg-options \
#       train_dataloader.dataset.data_prefix.weak_label_path=$PWD/work_dirs/demo_point/weak \
#       train_dataloader.dataset.data_prefix.seg_map_path=$PWD/work_dirs/demo_point/sesam/round_1
# (tools/run_pipeline.py demo --weak point runs all of it; weak_type only decides how image tags
# are read, the label folders decide what is trained on.)
_base_ = ['./deeplabv3_r18_shapes.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the SeSAM pseudo-label (data_prefix.seg_map_path)
    dict(type='LoadWeakLabel', num_classes={{_base_.num_classes}}),  # gt_weak_label
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    # the teacher's clean view is kept; PhotoMetricDistortion is applied to the student's only
    dict(type='StudentTeacherViews', student_transforms=[dict(type='PhotoMetricDistortion')]),
    dict(type='PackSemiSegInputs'),  # PackSegInputs + gt_weak_label + teacher_img
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='WeakLabelDataset',
        weak_type='point',
        data_root={{_base_.data_root}},
        metainfo={{_base_.metainfo}},
        img_suffix='.jpg',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='sesam_labels',
                         weak_label_path='weak_labels'),
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=train_pipeline))

model = dict(
    _delete_=True,
    type='SemiSupervisedSegmentor',
    segmentor={{_base_.model}},
    semi_loss=dict(type='BalancedSemiLoss', lambda_gt=1.0, lambda_sam=1.0, lambda_conf=1.0,
                   conf_thresh=0.95, normalize='all_pixels'),
    aux_loss_weight=0.4,
    predict_on='teacher')
custom_hooks = [
    dict(type='SemiSupervisedHook', momentum=0.99, conf_ramp_iters=150),
]
