# CAM stage on MS-COCO 2014 (81 classes): configs/sam_wsss/cam_r50_voc.py (ResNet-50 V1c, OS16,
# CAMHead) trained from the image tags of the 82,081 train2014 images.
#   python tools/convert_coco.py --ann data/coco2014/annotations/instances_train2014.json \
#       --img-dir data/coco2014/train2014 --out data/coco2014/labels/train2014
#   python tools/convert_coco.py --ann data/coco2014/annotations/instances_val2014.json \
#       --img-dir data/coco2014/val2014 --out data/coco2014/labels/val2014
#   python tools/train.py configs/sam_wsss/cam_r50_coco.py
#   python tools/generate_cams.py configs/sam_wsss/cam_r50_coco.py \
#       work_dirs/cam_r50_coco/iter_25000.pth --out work_dirs/cam_r50_coco/cams
# Expects under data/coco2014: train2014/, val2014/ (images), labels/{train2014,val2014}/
# (<name>.png GT, ids.txt, cls_labels.json; tools/convert_coco.py). Tags come from
# labels/<split>/cls_labels.json (every annotated category; LoadImageTags); the GT labels serve
# the crop's cat_max_ratio and the CAM mIoU only. The test split is train2014: CAM pseudo-labels
# are made for, and scored on, the training set (generate_cams.py writes
# work_dirs/cam_r50_coco/cams/pseudo_labels/<name>.png for configs/sam_wsss/deeplabv3_coco.py).
# Schedule: 25,000 iterations at batch 16, about 5 epochs (the VOC config's 5,000 iterations are
# about 7.5 epochs of train_aug); validation on val2014 once, at the end.
_base_ = ['./cam_r50_voc.py']

data_root = 'data/coco2014'
num_classes = 81
crop_size = (512, 512)
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
             'flip', 'flip_direction', 'reduce_zero_label', 'image_tags')
train_tags = data_root + '/labels/train2014/cls_labels.json'
val_tags = data_root + '/labels/val2014/cls_labels.json'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageTags', num_classes=num_classes, cls_labels_file=train_tags),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [  # the train images, for CAM pseudo-labels
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageTags', num_classes=num_classes, cls_labels_file=train_tags),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
coco_train = dict(type='COCO81Dataset', data_root=data_root,
                  data_prefix=dict(img_path='train2014', seg_map_path='labels/train2014'),
                  ann_file='labels/train2014/ids.txt')
train_dataloader = dict(dataset=dict(_delete_=True, pipeline=train_pipeline, **coco_train))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='COCO81Dataset',
        data_root=data_root,
        data_prefix=dict(img_path='val2014', seg_map_path='labels/val2014'),
        ann_file='labels/val2014/ids.txt',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(2048, 512), keep_ratio=True),
            dict(type='LoadAnnotations'),  # after Resize: GT (and tags) at the original size
            dict(type='LoadImageTags', num_classes=num_classes, cls_labels_file=val_tags),
            dict(type='PackSegInputs', meta_keys=meta_keys),
        ]))
test_dataloader = dict(dataset=dict(_delete_=True, pipeline=test_pipeline, **coco_train))

model = dict(decode_head=dict(num_classes=num_classes))
max_iters = 25000
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=5000))
