# CPU smoke version of configs/sesam/deeplabv3_voc_coarse.py: ./deeplabv3_voc_point_smoke.py (the
# small model, 128 px crops, 20 iterations) reading coarse labels, as the full config does.
# It checks that the path runs; its numbers mean nothing.
_base_ = ['./deeplabv3_voc_point_smoke.py']

train_dataloader = dict(
    dataset=dict(
        weak_type='coarse',
        data_prefix=dict(seg_map_path='sesam_labels/coarse',
                         weak_label_path='weak_labels/coarse')))
