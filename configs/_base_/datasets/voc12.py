# PASCAL VOC 2012 in its usual layout under data/VOCdevkit/VOC2012 (JPEGImages, SegmentationClass,
# ImageSets/Segmentation/{train,val}.txt). Point elsewhere with
#   --cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=... \
#                 test_dataloader.dataset.data_root=...
# mmseg's own pipelines and evaluator are inherited unchanged.
_base_ = ['mmseg::_base_/datasets/pascal_voc12.py']

data_root = 'data/VOCdevkit/VOC2012'
train_dataloader = dict(num_workers=2, dataset=dict(data_root=data_root))
val_dataloader = dict(num_workers=2, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
