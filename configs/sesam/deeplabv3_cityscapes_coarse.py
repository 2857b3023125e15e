# SeSAM on Cityscapes from coarse labels: DeepLabV3-R50 trained semi-supervised (weak GT + SeSAM
# pseudo-labels + confident EMA-teacher labels). It is mmseg's DeepLabV3 Cityscapes config
# (512x1024 crops, 80k iterations, batch 2 x 4 GPUs) with the three changes of
# ./_base_sesam_deeplabv3_voc.py: the training dataset (WeakCityscapesDataset: the official
# coarse annotations as weak labels beside SeSAM pseudo-labels), two pipeline lines
# (LoadWeakLabel, PackSemiSegInputs) and the model wrapped in SemiSupervisedSegmentor with its
# hook. Cityscapes has no background class: every one of the 19 train ids is a class.
# Expects under data/cityscapes (mmseg's layout): leftImg8bit/{train,val}/<city>/, gtFine/val/
# (*_gtFine_labelTrainIds.png, from mmseg's tools/dataset_converters/cityscapes.py) and
# gtCoarse/train/ (the official gtCoarse.zip). Make the weak and SeSAM labels, train, test:
#   python tools/convert_cityscapes.py --root data/cityscapes --split train \
#       --out data/cityscapes/weak_labels/coarse/train
#   python tools/sesam_pseudo_labels.py --img-dir data/cityscapes/leftImg8bit/train \
#       --img-suffix _leftImg8bit.png --weak-dir data/cityscapes/weak_labels/coarse/train \
#       --ids data/cityscapes/weak_labels/coarse/train/ids.txt --num-classes 19 \
#       --out data/cityscapes/sesam_labels/coarse/train \
#       --model-type vit_h --checkpoint checkpoints/sam_vit_h_4b8939.pth
#   python tools/train.py configs/sesam/deeplabv3_cityscapes_coarse.py
#   python tools/test.py configs/sesam/deeplabv3_cityscapes_coarse.py \
#       work_dirs/deeplabv3_cityscapes_coarse/iter_80000.pth
# Weak labels made from gtFine instead (tools/make_weak_labels.py --gt data/cityscapes/gtFine/train
# --gt-suffix _gtFine_labelTrainIds.png --num-classes 19 --type point|scribble): set weak_type
# and data_prefix.weak_label_path. Cityscapes' own names work too, e.g.
# weak_label_path='gtCoarse/train', weak_label_suffix='_gtCoarse_labelTrainIds.png'.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
default_scope = 'mmseg'

data_root = 'data/cityscapes/'
crop_size = (512, 1024)
num_classes = 19
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the SeSAM pseudo-label (data_prefix.seg_map_path)
    dict(type='LoadWeakLabel', num_classes=num_classes),  # gt_weak_label, moved with seg_fields
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    # the teacher's clean view is kept; PhotoMetricDistortion is applied to the student's only
    dict(type='StudentTeacherViews', student_transforms=[dict(type='PhotoMetricDistortion')]),
    dict(type='PackSemiSegInputs'),  # PackSegInputs + gt_weak_label + teacher_img
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='WeakCityscapesDataset',
        weak_type='coarse',
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='sesam_labels/coarse/train',
                         weak_label_path='weak_labels/coarse/train'),
        seg_map_suffix='.png',
        weak_label_suffix='.png',
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
