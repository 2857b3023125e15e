"""The mask source travels with the data: a store exported with mask_store export-amg and read
back (import-amg, or the folder read directly) keeps its source; the enhanced labels record it;
eval_pseudo_labels' printout and JSON name it for --pred and --compare. The masks are GT
components + a block grid (NOT SAM) in a store whose source string stands for a SAM run."""
import json
import os.path as osp

import numpy as np
from helpers import grid_oracle_masks, load_tool

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore, open_mask_source
from mmseg_sam_wsss.utils.label_sources import folder_source

SOURCE = 'sam-tiny test model (not SAM)'  # any source other than 'amg-import'


def test_source_survives_export_import_enhance_and_eval(repo_root, voc_mini, tmp_path, capsys):
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        ids = [line.strip() for line in handle if line.strip()][:2]
    ids_file = tmp_path / 'ids.txt'
    ids_file.write_text('\n'.join(ids) + '\n')
    store = MaskStore(str(tmp_path / 'store'), create=True, source=SOURCE)
    for image_id in ids:
        gt = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        store.write(image_id, MaskSet.from_masks(grid_oracle_masks(gt), SOURCE))
    mask_tool = load_tool(repo_root, 'mask_store')
    amg = str(tmp_path / 'amg')
    assert mask_tool.main(['export-amg', store.root, amg]) == 0
    reader = open_mask_source(amg)
    assert reader.source == SOURCE and reader(ids[0]).source == SOURCE
    assert mask_tool.main(['import-amg', amg, str(tmp_path / 'back')]) == 0
    back = MaskStore(str(tmp_path / 'back'))
    assert back.source == SOURCE and back.read(ids[0]).source == SOURCE
    np.testing.assert_array_equal(back.read(ids[0]).runs, store.read(ids[0]).runs)
    # an amg.py folder of unknown origin is still 'amg-import'
    plain = tmp_path / 'plain'
    (plain / ids[0]).mkdir(parents=True)
    for name in ('0.png', 'metadata.csv'):
        (plain / ids[0] / name).write_bytes((tmp_path / 'amg' / ids[0] / name).read_bytes())
    assert open_mask_source(str(plain)).source == 'amg-import'
    # the labels made from the exported folder record the source; eval names it
    enhance = load_tool(repo_root, 'enhance_pseudo_labels')
    cam = osp.join(voc_mini, 'pseudo_labels', 'transcam')
    enhanced = str(tmp_path / 'enhanced')
    assert enhance.main(['--pseudo-dir', cam, '--masks', amg, '--out', enhanced, '--ids',
                         str(ids_file)]) == 0
    assert folder_source(enhanced)['mask_source'] == SOURCE
    evaluate = load_tool(repo_root, 'eval_pseudo_labels')
    out = tmp_path / 'eval.json'
    capsys.readouterr()
    assert evaluate.main(['--pred', cam, '--gt', osp.join(voc_mini, 'SegmentationClass'),
                          '--ids', str(ids_file), '--compare', enhanced, '--out',
                          str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['pred_source']['made_by'] is None  # TransCAM's labels: no record
    assert report['compare']['source'] == {'path': osp.realpath(enhanced),
                                           'made_by': 'enhance_pseudo_labels',
                                           'mask_source': SOURCE}
    printed = capsys.readouterr().out
    assert f'B (--compare): {osp.realpath(enhanced)} (made by enhance_pseudo_labels; masks: ' \
        f'{SOURCE})' in printed
    assert 'A (--pred):' in printed and 'mask source unknown' in printed
