# SeSAM on ADE20K from scribbles: DeepLabV3-R50 trained semi-supervised (weak GT + SeSAM
# pseudo-labels + confident EMA-teacher labels). It is mmseg's DeepLabV3 ADE20K config (512x512
# crops, 80k iterations, batch 4 x 4 GPUs) with the three changes of
# ./_base_sesam_deeplabv3_voc.py: the training dataset (WeakADE20KDataset: scribbles beside SeSAM
# pseudo-labels), two pipeline lines (LoadWeakLabel, PackSemiSegInputs) and the model wrapped in
# SemiSupervisedSegmentor with its hook.
# reduce_zero_label: mmseg's ADE20K annotations hold 0 = "other" and the classes as 1..150, and
# ADE20KDataset reduces them when loading (0 -> 255, v -> v - 1). Our weak and SeSAM labels
# already hold the 150 reduced ids (255 = unlabelled), so the training set reads them with
# reduce_zero_label=False; validation keeps mmseg's ADE20KDataset on the raw GT
# (reduce_zero_label=True). ADE20K has no background class.
# Expects under data/ade/ADEChallengeData2016 (mmseg's layout): images/{training,validation}/,
# annotations/validation/, and scribbles: Scribbles4All-style PNGs holding raw ids (0 =
# unlabelled), converted with
#   python tools/convert_weak_labels.py --format png S4A_ADE20K_DIR --weak-type scribble \
#       --ignore-value 0 --value-map $(python -c "print(*[f'{v}={v-1}' for v in range(1, 151)])") \
#       --num-classes 150 --img-dir data/ade/ADEChallengeData2016/images/training \
#       --out data/ade/ADEChallengeData2016/weak_labels/scribble/training
# or synthesised from the GT (tools/make_weak_labels.py --gt .../annotations/training
# --reduce-zero-label --num-classes 150 --type scribble --out ...). Then:
#   python tools/sesam_pseudo_labels.py --img-dir data/ade/ADEChallengeData2016/images/training \
#       --weak-dir data/ade/ADEChallengeData2016/weak_labels/scribble/training --num-classes 150 \
#       --out data/ade/ADEChallengeData2016/sesam_labels/scribble/training \
#       --model-type vit_h --checkpoint checkpoints/sam_vit_h_4b8939.pth
#   python tools/train.py configs/sesam/deeplabv3_ade20k_scribble.py
#   python tools/test.py configs/sesam/deeplabv3_ade20k_scribble.py \
#       work_dirs/deeplabv3_ade20k_scribble/iter_80000.pth
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py']
custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
default_scope = 'mmseg'

data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
num_classes = 150
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # the SeSAM pseudo-label, already in reduced ids (the dataset's reduce_zero_label=False)
    dict(type='LoadAnnotations'),
    dict(type='LoadWeakLabel', num_classes=num_classes),  # gt_weak_label, moved with seg_fields
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
        type='WeakADE20KDataset',
        weak_type='scribble',
        reduce_zero_label=False,
        data_root=data_root,
        data_prefix=dict(img_path='images/training',
                         seg_map_path='sesam_labels/scribble/training',
                         weak_label_path='weak_labels/scribble/training'),
        pipeline=train_pipeline))

model = dict(
    _delete_=True,
    type='SemiSupervisedSegmentor',
    segmentor={{_base_.model}},
    # conf_thresh is τ; the hook only ramps conf_scale (on lambda_conf) unless it is given
    # conf_thresh_start and conf_thresh_iters, and then ramps τ from there to this value.
    semi_loss=dict(type='BalancedSemiLoss', lambda_gt=1.0, lambda_sam=1.0, lambda_conf=1.0,
                   conf_thresh=0.95, normalize='all_pixels'),  # docs/sesam.md: why
    aux_loss_weight=0.4,
    predict_on='teacher')
custom_hooks = [
    dict(type='SemiSupervisedHook', momentum=0.999, conf_ramp_iters=2000),
]
