# The CPU smoke model of configs/smoke/*.py: a half-width ResNetV1c-18 (stem and base width 32)
# with BN instead of SyncBN, no pretrained weights, for 128 px crops. Not a config to run: a
# smoke config lists it beside the full config it shrinks,
#   _base_ = ['../sam_wsss/deeplabv3_voc.py', '../_base_/models/smoke_r18.py',
#             '../_base_/schedules/smoke_20it.py']
# and applies a part with {{_base_.smoke_deeplabv3}} (DeepLabV3 in an EncoderDecoder) or
# {{_base_.smoke_cam}} (a CAMSegmentor). mmengine refuses a key that two bases share, so every
# name here is new to the full configs.
smoke_crop_size = (128, 128)
smoke_norm_cfg = dict(type='BN', requires_grad=True)
smoke_backbone = dict(depth=18, stem_channels=32, base_channels=32, norm_cfg=smoke_norm_cfg)
smoke_deeplabv3 = dict(
    data_preprocessor=dict(size=smoke_crop_size),
    pretrained=None,
    backbone=smoke_backbone,
    decode_head=dict(in_channels=256, channels=64, norm_cfg=smoke_norm_cfg),
    auxiliary_head=dict(in_channels=128, channels=32, norm_cfg=smoke_norm_cfg))
smoke_cam = dict(
    data_preprocessor=dict(size=smoke_crop_size),
    pretrained=None,
    backbone=smoke_backbone,
    decode_head=dict(in_channels=256, channels=256, norm_cfg=smoke_norm_cfg))
# A smoke run checks that a config's path runs; its numbers mean nothing, so tools/train.py
# need not warn that the model starts without ImageNet weights.
from_scratch_ok = True
