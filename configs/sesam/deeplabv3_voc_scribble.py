# SeSAM from scribble labels: DeepLabV3-R50 on PASCAL VOC 2012, semi-supervised (weak GT + SeSAM
# pseudo-labels + confident EMA-teacher labels).
# Expects under data/VOCdevkit/VOC2012: JPEGImages/, SegmentationClass/ (val GT),
# ImageSets/Segmentation/{train,val}.txt, weak_labels/scribble/<id>.png and sesam_labels/scribble/<id>.png.
# Make them, then train and test:
#   python tools/make_weak_labels.py --gt data/VOCdevkit/VOC2012/SegmentationClass --type scribble \
#       --out data/VOCdevkit/VOC2012/weak_labels/scribble
#   python tools/sesam_pseudo_labels.py --img-dir data/VOCdevkit/VOC2012/JPEGImages \
#       --weak-dir data/VOCdevkit/VOC2012/weak_labels/scribble --out data/VOCdevkit/VOC2012/sesam_labels/scribble \
#       --model-type vit_h --checkpoint checkpoints/sam_vit_h_4b8939.pth
#   python tools/train.py configs/sesam/deeplabv3_voc_scribble.py
#   python tools/test.py configs/sesam/deeplabv3_voc_scribble.py work_dirs/deeplabv3_voc_scribble/iter_20000.pth
_base_ = ['./_base_sesam_deeplabv3_voc.py']

train_dataloader = dict(
    dataset=dict(
        weak_type='scribble',
        data_prefix=dict(seg_map_path='sesam_labels/scribble', weak_label_path='weak_labels/scribble')))
