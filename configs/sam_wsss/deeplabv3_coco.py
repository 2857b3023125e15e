# DeepLabV3-R50 on MS-COCO 2014 (81 classes) from image-level tags, trained on SAM-enhanced
# pseudo-labels (SEPL, Chen et al. 2023). It is configs/baselines/deeplabv3_r50_coco.py (mmseg's
# DeepLabV3 COCO-Stuff-164k config on COCO 2014 with 81-class heads) trained on CAM labels with
# the two pipeline lines of configs/sam_wsss/deeplabv3_voc.py (LoadSAMMasks,
# SAMEnhancePseudoLabel); schedule (80k iterations, batch 4 x 4 GPUs) and model are mmseg's.
#
# Expects under data/coco2014:
#   train2014/, val2014/              the COCO 2014 images,
#   labels/{train2014,val2014}/       <name>.png GT labels, ids.txt (82,081 / 40,137 images with
#                                     annotations), cls_labels.json: tools/convert_coco.py,
#   pseudo_labels/cam/<name>.png   CAM pseudo-labels of the train2014 ids (class ids, 255 =
#                                  ignore), e.g. tools/generate_cams.py with
#                                  configs/sam_wsss/cam_r50_coco.py,
#   sam_masks/train2014/           SAM masks of the train2014 ids, from
#                                  tools/generate_sam_masks.py (a mask store or amg.py folders).
# Weights: model.pretrained='open-mmlab://resnet50_v1c', downloaded by mmengine on first use;
# offline, --cfg-options model.pretrained=/path/to/resnet50_v1c.pth.
# Run:
#   python tools/train.py configs/sam_wsss/deeplabv3_coco.py
#   python tools/test.py configs/sam_wsss/deeplabv3_coco.py work_dirs/deeplabv3_coco/iter_80000.pth
_base_ = ['../baselines/deeplabv3_r50_coco.py']

data_root = 'data/coco2014'
num_classes = 81
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # the CAM pseudo-label
    dict(type='LoadSAMMasks', mask_root=data_root + '/sam_masks/train2014'),
    dict(type='SAMEnhancePseudoLabel', rule='sepl', num_classes=num_classes),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(data_prefix=dict(seg_map_path='pseudo_labels/cam'), pipeline=train_pipeline))
