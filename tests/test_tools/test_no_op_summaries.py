"""Work that did nothing does not pass in silence: enhance_pseudo_labels counts the pixels it
changed vs the input pseudo-labels (and those the masks changed) and warns when the masks
changed none; the store summary counts masks per image (generate_sam_masks' test covers the
tool). Masks here are GT components + a block grid: NOT SAM."""
import os.path as osp

import numpy as np
import pytest
from helpers import GRID_ORACLE_SOURCE, grid_oracle_masks, load_tool

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore
from mmseg_sam_wsss.utils.summaries import mask_count_summary


def ids_of(voc_mini, count=3):
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        return [line.strip() for line in handle if line.strip()][:count]


def make_store(voc_mini, root, ids, empty):
    store = MaskStore(root, create=True, source=GRID_ORACLE_SOURCE)
    for image_id in ids:
        gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        masks = np.zeros((0, ) + gt.shape, bool) if empty else grid_oracle_masks(gt)
        store.write(image_id, MaskSet.from_masks(masks, GRID_ORACLE_SOURCE))
    return root


@pytest.mark.parametrize('empty', [False, True])
def test_enhance_counts_changed_pixels_and_warns_on_no_change(repo_root, voc_mini, tmp_path,
                                                              capsys, empty):
    tool = load_tool(repo_root, 'enhance_pseudo_labels')
    ids = ids_of(voc_mini)
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(ids) + '\n')
    store = make_store(voc_mini, str(tmp_path / 'store'), ids, empty)
    pseudo_dir = osp.join(voc_mini, 'pseudo_labels', 'transcam')
    out = str(tmp_path / 'enhanced')
    assert tool.main(['--pseudo-dir', pseudo_dir, '--masks', store, '--out', out, '--ids',
                      str(ids_file), '--keep-ignore']) == 0
    captured = capsys.readouterr()
    changed = sum(int((read_label_png(osp.join(out, i + '.png'))
                       != read_label_png(osp.join(pseudo_dir, i + '.png'))).sum()) for i in ids)
    total = sum(read_label_png(osp.join(pseudo_dir, i + '.png')).size for i in ids)
    line = next(line for line in captured.out.splitlines() if 'images enhanced' in line)
    assert f'3 images enhanced: {changed} of {total} pixels changed vs the input labels' in line
    warnings = [w for w in captured.err.splitlines() if w.startswith('WARNING')]
    if empty:
        assert changed == 0 and 'min 0, max 0' in line
        assert len(warnings) == 1 and 'the masks changed no pixel of the 3 labels' in warnings[0]
    else:
        assert changed > 0 and not warnings


def test_mask_count_summary():
    line, warning = mask_count_summary([3, 0, 5, 4], 'store S')
    assert line == ('store S: 12 masks in 4 images; masks per image mean 3.0, min 0, max 5; '
                    '1 images with 0 masks')
    assert warning.startswith('WARNING: 1 of 4 images of store S have 0 masks')
    assert mask_count_summary([2, 2], 'S')[1] is None
    assert 'holds 0 masks in all 2 images' in mask_count_summary([0, 0], 'S')[1]
