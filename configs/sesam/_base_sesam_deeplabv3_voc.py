# Shared body of the SeSAM configs (deeplabv3_voc_{point,scribble,coarse}.py); not run directly.
# DeepLabV3-R50 on VOC 2012 train_aug trained semi-supervised from weak labels + SeSAM
# pseudo-labels + confident labels of an EMA teacher. It is mmseg's DeepLabV3 VOC config with
# three changes: the training dataset (weak labels beside SeSAM pseudo-labels), three pipeline
# lines (LoadWeakLabel, PackSemiSegInputs: the weak label travels as its own map, gt_weak_label;
# StudentTeacherViews: the EMA teacher sees the clean crop, PhotoMetricDistortion only the
# student's), and the model wrapped in SemiSupervisedSegmentor with its hook (training refuses
# to start without SemiSupervisedHook: nothing else moves the EMA teacher). The loss is
# normalised over all pixels ('all_pixels', the plain CE's scale; docs/sesam.md says why).
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
default_scope = 'mmseg'

data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the SeSAM pseudo-label (data_prefix.seg_map_path)
    dict(type='LoadWeakLabel', num_classes=21),  # gt_weak_label, moved with seg_fields
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    # the teacher's clean view is kept; PhotoMetricDistortion is applied to the student's only
    dict(type='StudentTeacherViews', student_transforms=[dict(type='PhotoMetricDistortion')]),
    dict(type='PackSemiSegInputs'),  # PackSegInputs + gt_weak_label + teacher_img
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='WeakVOCDataset',
        weak_type='point',
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='sesam_labels/point',
                         weak_label_path='weak_labels/point'),
        ann_file='ImageSets/Segmentation/trainaug.txt',  # 10,582 ids; train.txt: 1,464
        pipeline=train_pipeline))

model = dict(
    _delete_=True,
    type='SemiSupervisedSegmentor',
    segmentor={{_base_.model}},
    # conf_thresh is τ; the hook only ramps conf_scale (on lambda_conf) unless it is given
    # conf_thresh_start and conf_thresh_iters, and then ramps τ from there to this value.
    semi_loss=dict(type='BalancedSemiLoss', lambda_gt=1.0, lambda_sam=1.0, lambda_conf=1.0,
                   conf_thresh=0.95, normalize='all_pixels'),
    aux_loss_weight=0.4,
    predict_on='teacher')
custom_hooks = [
    dict(type='SemiSupervisedHook', momentum=0.999, conf_ramp_iters=2000),
]
