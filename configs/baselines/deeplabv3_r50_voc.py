# DeepLabV3 (ResNet-50-D8) on PASCAL VOC 2012 train_aug, trained on whatever label folder the
# dataset points at: the GT (full supervision; VOCAugDataset reads SegmentationClass, else SBD's
# SegmentationClassAug), or any pseudo-labels of the train_aug ids, e.g. CAM ones (then no GT
# fallback: every id must have its pseudo-label):
#   python tools/train.py configs/baselines/deeplabv3_r50_voc.py \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=pseudo_labels/cam \
#                     train_dataloader.dataset.fallback_seg_map_path=None
#   python tools/test.py configs/baselines/deeplabv3_r50_voc.py \
#       work_dirs/deeplabv3_r50_voc/iter_20000.pth
# Expects data/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,SegmentationClassAug,
# ImageSets/Segmentation/{trainaug,val}.txt} (configs/_base_/datasets/voc12aug.py); the 1,464
# VOC train images only: train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt.
# The model, runtime and schedule are mmseg's own; only the dataset base is ours.
# Weights: model.pretrained='open-mmlab://resnet50_v1c' (mmseg's ImageNet ResNet-50-V1c), which
# mmengine downloads on first use (into ~/.cache/torch); offline, pass a local copy,
# --cfg-options model.pretrained=/path/to/resnet50_v1c.pth, or model.pretrained=None to train from
# scratch (tools/train.py then warns: expect a far lower mIoU).
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py',
    '../_base_/datasets/voc12aug.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
default_scope = 'mmseg'

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=21),
    auxiliary_head=dict(num_classes=21))
