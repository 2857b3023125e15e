# SeSAM from scribble labels: DeepLabV3-R50 on PASCAL VOC 2012 train_aug (10,582 images),
# semi-supervised (weak GT + SeSAM pseudo-labels + confident EMA-teacher labels).
# Expects under V=data/VOCdevkit/VOC2012: JPEGImages/, SegmentationClass/ (val GT),
# ImageSets/Segmentation/{trainaug,val}.txt (trainaug.txt and SBD's SegmentationClassAug/: mmseg's
# tools/dataset_converters/voc_aug.py), weak_labels/scribble/<id>.png and
# sesam_labels/scribble/<id>.png. Make them (weak labels synthesised from the GT, or real ones with
# tools/convert_weak_labels.py), then train and test:
#   python tools/make_weak_labels.py --gt $V/SegmentationClass $V/SegmentationClassAug \
#       --ids $V/ImageSets/Segmentation/trainaug.txt --type scribble --out $V/weak_labels/scribble
#   python tools/sesam_pseudo_labels.py --img-dir $V/JPEGImages \
#       --weak-dir $V/weak_labels/scribble --out $V/sesam_labels/scribble \
#       --model-type vit_h --checkpoint checkpoints/sam_vit_h_4b8939.pth
#   python tools/train.py configs/sesam/deeplabv3_voc_scribble.py
#   python tools/test.py configs/sesam/deeplabv3_voc_scribble.py \
#       work_dirs/deeplabv3_voc_scribble/iter_20000.pth
# The 1,464 VOC train images only:
#   --cfg-options train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt
_base_ = ['./_base_sesam_deeplabv3_voc.py']

train_dataloader = dict(
    dataset=dict(
        weak_type='scribble',
        data_prefix=dict(seg_map_path='sesam_labels/scribble',
                         weak_label_path='weak_labels/scribble')))
