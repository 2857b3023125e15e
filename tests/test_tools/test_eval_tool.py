"""tools/eval_pseudo_labels.py on real voc_mini labels: the TransCAM reference mIoU, --compare,
--out, --show with an oracle mask store, and the bad-input errors."""
import json
import os.path as osp
import re
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from mmseg_sam_wsss.core.io import read_label_png, write_label_png
from mmseg_sam_wsss.errors import SamWsssError

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                            'tools'))
import eval_pseudo_labels  # noqa: E402



@pytest.fixture
def small_set(voc_mini, tmp_path):
    """The first 4 train ids, their TransCAM pseudo-labels copied to tmp_path/pred, the id list."""
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        ids = [line.strip() for line in handle if line.strip()][:4]
    pred = tmp_path / 'pred'
    pred.mkdir()
    for image_id in ids:
        shutil.copy(osp.join(voc_mini, 'pseudo_labels', 'transcam', f'{image_id}.png'), pred)
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(ids) + '\n')
    return dict(id_list=ids, pred=str(pred), gt=osp.join(voc_mini, 'SegmentationClass'),
                img=osp.join(voc_mini, 'JPEGImages'), ids=str(ids_file), tmp=tmp_path)


def test_transcam_reference_miou(voc_mini, tmp_path, capsys):
    """The real TransCAM pseudo-labels of the 110 train ids score about 65.6 mIoU."""
    out = tmp_path / 'eval.json'
    eval_pseudo_labels.main([
        '--pred', osp.join(voc_mini, 'pseudo_labels', 'transcam'),
        '--gt', osp.join(voc_mini, 'SegmentationClass'),
        '--ids', osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt'),
        '--out', str(out)])
    report = json.loads(out.read_text())
    assert report['num_images'] == 110
    assert report['metrics']['miou'] == pytest.approx(0.656, abs=0.002)
    assert re.search(r'^mIoU\s+65\.60$', capsys.readouterr().out, re.MULTILINE)


def test_compare_out_and_show_with_oracle_masks(small_set, capsys):
    image_ids = small_set['id_list']
    from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore
    store = MaskStore(str(small_set['tmp'] / 'masks'), create=True,
                      source='oracle (GT class regions, not SAM)')
    for image_id in image_ids[:1]:
        gt = read_label_png(osp.join(small_set['gt'], f'{image_id}.png'))
        masks = np.stack([gt == value for value in np.unique(gt) if value != 255])
        store.write(image_id, MaskSet.from_masks(masks, store.source))
    out = small_set['tmp'] / 'eval.json'
    grids = small_set['tmp'] / 'grids'
    eval_pseudo_labels.main([
        '--pred', small_set['pred'], '--gt', small_set['gt'], '--ids', small_set['ids'],
        '--compare', small_set['gt'], '--out', str(out), '--show', '1', str(grids),
        '--img-dir', small_set['img'], '--masks', str(store.root)])
    report = json.loads(out.read_text())
    assert report['num_images'] == 4
    assert report['compare']['metrics']['miou'] == pytest.approx(1.0)
    assert report['metrics']['miou'] < 0.9
    text = capsys.readouterr().out
    assert 'B-A IoU' in text and 'B 100.00' in text and 'changes below are B - A' in text
    with Image.open(grids / f'{image_ids[0]}.png') as grid:
        assert grid.width > 4 * 250  # image | pseudo-label | masks | compare | GT


def test_missing_prediction_stops_or_is_skipped(small_set, capsys):
    image_ids = small_set['id_list']
    missing = osp.join(small_set['pred'], f'{image_ids[1]}.png')
    shutil.move(missing, str(small_set['tmp'] / 'moved.png'))
    args = ['--pred', small_set['pred'], '--gt', small_set['gt'], '--ids', small_set['ids']]
    with pytest.raises(SamWsssError, match=f'{image_ids[1]}.png: no pseudo-label'):
        eval_pseudo_labels.main(args)
    eval_pseudo_labels.main(args + ['--skip-bad'])
    assert '3 images evaluated, 1 bad' in capsys.readouterr().out


def test_size_mismatch_and_bad_values_name_the_file(small_set):
    image_ids = small_set['id_list']
    args = ['--pred', small_set['pred'], '--gt', small_set['gt'], '--ids', small_set['ids']]
    bad_path = osp.join(small_set['pred'], f'{image_ids[2]}.png')
    write_label_png(bad_path, np.zeros((7, 9), np.uint8))
    with pytest.raises(SamWsssError, match=rf'pred/{image_ids[2]}.png is 7x9 \(HxW\) but its '
                       'image is'):
        eval_pseudo_labels.main(args)
    label = read_label_png(osp.join(small_set['gt'], f'{image_ids[2]}.png'))
    write_label_png(bad_path, np.full(label.shape, 40, np.uint8))
    with pytest.raises(SamWsssError, match=r'label values \[40\]'):
        eval_pseudo_labels.main(args)


def test_cli_error_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    """As run from the shell: a bad input is one line on stderr and exit status 2."""
    monkeypatch.setattr(sys, 'argv', ['eval_pseudo_labels.py', '--pred', str(tmp_path / 'nope'),
                                      '--gt', str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        eval_pseudo_labels.run_tool(eval_pseudo_labels.main)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f'error: {tmp_path / "nope"}: --pred folder not found']


def test_classes_in_neither_gt_nor_labels_share_one_line():
    """81 COCO classes with a handful present: the absent ones are listed once, not as rows."""
    nan = float('nan')
    metrics = dict(iou=[0.5, nan, 0.25, nan], precision=[0.5, nan, 0.0, nan],
                   recall=[1.0, nan, nan, nan], miou=0.375, pixel_accuracy=0.9, coverage=1.0)
    table = eval_pseudo_labels.format_table(metrics, ['background', 'cat', 'dog', 'cow'])
    rows = {line.split()[0] for line in table.splitlines()}
    assert {'background', 'dog'} <= rows and not {'cat', 'cow'} & rows
    assert '(2 classes in neither the GT nor the labels: cat, cow)' in table
    # a class the compared labels have is a row again
    compare = dict(metrics, iou=[0.5, 0.1, 0.25, nan])
    assert 'cat ' in eval_pseudo_labels.format_table(metrics, ['background', 'cat', 'dog', 'cow'],
                                                     compare)
