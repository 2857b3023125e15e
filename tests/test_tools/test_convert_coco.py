"""tools/convert_coco.py on a synthetic COCO 2014 tree (overlapping instances, a crowd region, a
greyscale image, an image without annotations), and COCO81Dataset on its output."""
import json
import os.path as osp

import numpy as np
import pytest
from helpers import load_tool
from PIL import Image
from synthetic_trees import make_coco_tree

from mmseg_sam_wsss.core.coco import instances_to_label, read_instances
from mmseg_sam_wsss.core.io import read_ids, read_label_png

NAMES = ['COCO_train2014_000000000001', 'COCO_train2014_000000000002',
         'COCO_train2014_000000000004']


def run_main(tool, argv):
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(lambda: tool.main(argv))
    return exit_info.value.code


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool(repo_root, 'convert_coco')


@pytest.fixture()
def coco(tmp_path):
    root = tmp_path / 'coco2014'
    return dict(root=str(root), ann=make_coco_tree(str(root)))


def test_labels_ids_and_tags_then_resume(tool, coco, capsys):
    out = osp.join(coco['root'], 'labels', 'train2014')
    argv = ['--ann', coco['ann']['train2014'], '--img-dir', osp.join(coco['root'], 'train2014'),
            '--out', out]
    assert run_main(tool, argv) == 0
    assert '3 written' in capsys.readouterr().out
    assert read_ids(osp.join(out, 'ids.txt')) == NAMES  # the image without annotations is out
    images = read_instances(coco['ann']['train2014'])
    for name in NAMES:
        label = read_label_png(osp.join(out, name + '.png'), num_classes=81)
        assert (label == instances_to_label(images[name])).all()
    with open(osp.join(out, 'cls_labels.json'), encoding='utf-8') as handle:
        tags = json.load(handle)
    assert tags == {NAMES[0]: [1, 17, 80], NAMES[1]: [1, 3], NAMES[2]: [16]}
    with open(osp.join(out, 'coco_meta.json'), encoding='utf-8') as handle:
        meta = json.load(handle)
    assert len(meta['classes']) == 81 and meta['left_out_without_annotations'] == 1
    assert meta['category_to_class']['90'] == 80
    # a rerun resumes; other settings are refused with what differs
    assert run_main(tool, argv) == 0
    assert '0 written, 3 already done (skipped)' in capsys.readouterr().out
    assert run_main(tool, argv + ['--crowd', 'class']) == 2
    assert 'crowd: ignore -> class' in capsys.readouterr().err


def test_bad_inputs_are_one_line_naming_the_file(tool, coco, tmp_path, capsys):
    out = str(tmp_path / 'out')
    missing = str(tmp_path / 'annotations' / 'instances_train2014.json')
    assert run_main(tool, ['--ann', missing, '--out', out]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count('\n') == 0 and f'{missing}: annotation file not found' in error
    # an image whose size differs from the annotation's
    img_dir = osp.join(coco['root'], 'train2014')
    Image.new('RGB', (10, 10)).save(osp.join(img_dir, NAMES[1] + '.jpg'))
    code = run_main(tool, ['--ann', coco['ann']['train2014'], '--img-dir', img_dir, '--out',
                           str(tmp_path / 'sized')])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and f'{img_dir}/{NAMES[1]}.jpg: image is 10x10 (HxW)' in error
    # an unknown category id
    with open(coco['ann']['train2014'], encoding='utf-8') as handle:
        raw = json.load(handle)
    raw['annotations'][0]['category_id'] = 83
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(raw))
    assert run_main(tool, ['--ann', str(bad), '--out', str(tmp_path / 'bad')]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count('\n') == 0 and f'{bad}: annotation' in error and 'category id 83' in error


def test_coco81_dataset_reads_the_converted_tree(tool, coco, capsys):
    from mmengine.registry import init_default_scope

    import mmseg_sam_wsss.registration  # noqa: F401
    from mmseg.registry import DATASETS
    out = osp.join(coco['root'], 'labels', 'train2014')
    assert run_main(tool, ['--ann', coco['ann']['train2014'], '--out', out]) == 0
    capsys.readouterr()
    init_default_scope('mmseg')
    dataset = DATASETS.build(dict(
        type='COCO81Dataset', data_root=coco['root'],
        data_prefix=dict(img_path='train2014', seg_map_path='labels/train2014'),
        ann_file='labels/train2014/ids.txt',
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                  dict(type='LoadImageTags', num_classes=81,
                       cls_labels_file=osp.join(out, 'cls_labels.json'))]))
    assert len(dataset) == 3 and len(dataset.metainfo['classes']) == 81
    assert dataset.metainfo['classes'][80] == 'toothbrush'
    grey = dataset[1]  # the greyscale JPEG loads as 3 channels
    assert grey['img'].shape == (48, 64, 3) and grey['image_tags'].tolist() == [1, 3]
    assert np.isin(np.unique(grey['gt_seg_map']), [0, 3, 255]).all()
