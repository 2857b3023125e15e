# DeepLabV3 (ResNet-50-D8) on MS-COCO 2014 as 81-class semantic segmentation (background + the 80
# object categories), trained on whatever label folder the dataset points at: the GT labels of
# tools/convert_coco.py (full supervision), or any pseudo-labels of the train2014 ids, e.g. CAM
# ones:
#   python tools/train.py configs/baselines/deeplabv3_r50_coco.py \
#       --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=pseudo_labels/cam
#   python tools/test.py configs/baselines/deeplabv3_r50_coco.py \
#       work_dirs/deeplabv3_r50_coco/iter_80000.pth
# Expects under data/coco2014: train2014/, val2014/ (images) and labels/{train2014,val2014}/
# (<name>.png, ids.txt; tools/convert_coco.py). It is mmseg's DeepLabV3 COCO-Stuff-164k config
# (model, 80k schedule, batch 4 x 4 GPUs) with the COCO 2014 dataset and 81-class heads.
# Weights: model.pretrained='open-mmlab://resnet50_v1c', downloaded by mmengine on first use;
# offline, --cfg-options model.pretrained=/path/to/resnet50_v1c.pth.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_coco-stuff164k-512x512.py']
custom_imports = dict(imports=['mmseg_sam_wsss.registration'], allow_failed_imports=False)
default_scope = 'mmseg'

data_root = 'data/coco2014'
num_classes = 81
train_dataloader = dict(
    dataset=dict(
        type='COCO81Dataset',
        data_root=data_root,
        data_prefix=dict(img_path='train2014', seg_map_path='labels/train2014'),
        ann_file='labels/train2014/ids.txt'))
val_dataloader = dict(
    dataset=dict(
        type='COCO81Dataset',
        data_root=data_root,
        data_prefix=dict(img_path='val2014', seg_map_path='labels/val2014'),
        ann_file='labels/val2014/ids.txt'))
test_dataloader = val_dataloader
model = dict(
    decode_head=dict(num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))
