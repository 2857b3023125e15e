# Demo CAM stage on the procedural shape scenes (tools/make_synthetic_dataset.py): the same
# CAMSegmentor/CAMHead as configs/sam_wsss/cam_r50_voc.py, changed only where the tiny CPU dataset
# needs it: 6 classes, 128 px images (no resize or crop, so the image tags stay true for every
# training input), a half-width ResNet-18 (ResNetV1c, output stride 16) trained from scratch, BN,
# a schedule that fits the demo's CPU budget, and bg_thresh 0.3 (0.3-0.4 give the best CAM
# labels on these scenes; 0.2 and 0.5 lose 3-4 mIoU). Tags come from the dataset's cls_labels.json.
#   python tools/make_synthetic_dataset.py --out work_dirs/demo/data
#   python tools/train.py configs/demo/cam_r18_shapes.py --work-dir work_dirs/demo/cam
#   python tools/generate_cams.py configs/demo/cam_r18_shapes.py work_dirs/demo/cam/iter_300.pth \
#       --out work_dirs/demo/cam_labels --split train
# Expects work_dirs/demo/data/{JPEGImages,SegmentationClass,ImageSets/Segmentation,cls_labels.json};
# elsewhere: --cfg-options {train,val,test}_dataloader.dataset.data_root=DIR and
# {train,val,test}_dataloader.dataset.pipeline.LoadImageTags.cls_labels_file=DIR/cls_labels.json
# (tools/run_pipeline.py demo passes both).
_base_ = ['../sam_wsss/cam_r50_voc.py']

data_root = 'work_dirs/demo/data'
num_classes = 6
crop_size = (128, 128)
bg_thresh = 0.3
max_iters = 300
metainfo = dict(
    classes=('background', 'disc', 'square', 'triangle', 'ring', 'star'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128]])
cls_labels_file = data_root + '/cls_labels.json'
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
             'flip', 'flip_direction', 'reduce_zero_label', 'image_tags')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageTags', num_classes=num_classes, cls_labels_file=cls_labels_file),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='LoadImageTags', num_classes=num_classes, cls_labels_file=cls_labels_file),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
demo_dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo,
               img_suffix='.jpg', seg_map_suffix='.png',
               data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'))
train_dataloader = dict(
    batch_size=16, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, ann_file='ImageSets/Segmentation/train.txt',
                 pipeline=train_pipeline, **demo_dataset))
val_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, ann_file='ImageSets/Segmentation/val.txt',
                 pipeline=test_pipeline, **demo_dataset))
# generate_cams.py reads the test set; its ann_file is set by --split/--ids.
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, ann_file='ImageSets/Segmentation/train.txt',
                 pipeline=test_pipeline, **demo_dataset))

norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(depth=18, stem_channels=32, base_channels=32, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=256, channels=256, num_classes=num_classes,
                     bg_thresh=bg_thresh, norm_cfg=norm_cfg))

# From scratch on purpose (procedural shapes, not photographs), so a larger learning rate than
# the ImageNet-initialised VOC config, and no warning from tools/train.py about missing weights.
from_scratch_ok = True
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters),
                     logger=dict(interval=10))
