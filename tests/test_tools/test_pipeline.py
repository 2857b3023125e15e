"""tools/run_pipeline.py demo, reduced so that it runs in the suite: 80 train / 32 val images, a
CAM classifier trained 150 iterations and each DeepLabV3 120 (the demo configs otherwise as
shipped), training seeds fixed (``randomness.seed=0``) so that both DeepLabV3 runs see the same
initialisation, batches and augmentations and differ only in their labels. About 4 minutes of
one CPU core (1 thread); the full demo takes 10.6 minutes on both.

One run checks every stage's outputs, the table, the report, the demo's headline as a regression
test, a rerun that skips every stage, and a changed command that is refused.

The headline is that the enhanced pseudo-labels beat the CAM pseudo-labels as labels (train mIoU
against the GT) and through the DeepLabV3 trained on them (val mIoU). Masks come from the
imperfect GT oracle (GT components with simulated SAM errors, NOT SAM). Measured with this
reduced run (mIoU in percent, 1 thread, shared 2-core machine):

==== ========== =============== ===================== ==========================
seed CAM labels enhanced labels DeepLabV3 on CAM lab. DeepLabV3 on enhanced lab.
==== ========== =============== ===================== ==========================
0    54.71      67.32 (+12.61)  57.17                 68.23 (+11.06)
1    54.65      61.71 (+7.06)   56.03                 49.84 (-6.19)
2    52.85      60.73 (+7.88)   47.75                 61.06 (+13.31)
==== ========== =============== ===================== ==========================

The label gain is reliable: the test asserts at least ``LABEL_MARGIN`` = 3 points (smallest
measured: +7.06). The model gain is not, at this budget: short from-scratch trainings on 80
images sometimes never learn a class (a star IoU of 0-1 in one model of a pair), which swings
the val mIoU by up to 12 points either way; over the settings tried (80-200 iterations, batch 4
or 8, 80-120 images) the gain ranged from -12.2 to +13.3, with a negative value for at least one
of the three seeds in each. So the test asserts only that both models learned
(``MODEL_FLOOR`` = 30 val mIoU each; smallest measured: 47.75; predicting background everywhere
scores about 15); the model-level gain is the full demo's (README: +8.27 to +10.86 over three
seeds), checked by ``make demo``.
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.core.mask_store import MaskStore

NUM_TRAIN, NUM_VAL = 80, 32
REDUCED = ['--num-train', str(NUM_TRAIN), '--num-val', str(NUM_VAL), '--cam-iters', '150',
           '--seg-iters', '120', '--cam-cfg-options', 'randomness.seed=0',
           '--seg-cfg-options', 'randomness.seed=0', '--grid-rows', '2', '--workers', '2']
STAGES = 14
LABEL_MARGIN = 3.0  # mIoU points; see the module docstring
MODEL_FLOOR = 30.0


def run_pipeline(repo_root, work_dir, extra=(), check=True):
    result = subprocess.run(
        [sys.executable, 'tools/run_pipeline.py', 'demo', '--work-dir', str(work_dir)] + REDUCED
        + list(extra), cwd=repo_root, capture_output=True, text=True, timeout=900,
        env={**os.environ, 'SAM_CHECKPOINT': ''})
    if check and result.returncode != 0:
        raise AssertionError(f'run_pipeline failed ({result.returncode}):\n'
                             f'{result.stdout[-4000:]}\n{result.stderr[-4000:]}')
    return result


@pytest.mark.slow
def test_reduced_demo_gain_stages_and_resume(repo_root, tmp_path):
    work = tmp_path / 'demo'
    first = run_pipeline(repo_root, work)
    log = first.stdout
    # Every stage ran (none skipped), each printed its command, and the oracle is never SAM.
    assert len(re.findall(r'^\[\d+/%d\] ' % STAGES, log, re.M)) == STAGES, log
    assert 'finished earlier' not in log
    assert 'NOT SAM' in log
    assert re.search(r'^  \$ \S*python\S* tools/train\.py configs/demo/cam_r18_shapes\.py ', log,
                     re.M), log
    # The demo configs train from scratch on purpose: no warning about missing weights.
    assert 'from scratch' not in log

    data = work / 'data'
    train_ids = (data / 'ImageSets/Segmentation/train.txt').read_text().split()
    val_ids = (data / 'ImageSets/Segmentation/val.txt').read_text().split()
    assert len(train_ids) == NUM_TRAIN and len(val_ids) == NUM_VAL
    grid_ids = val_ids[:2]  # --grid-rows 2: the report's val rows get labels and masks too
    assert (work / 'ids' / 'report.txt').read_text().split() == grid_ids
    for image_id in train_ids + grid_ids:
        gt = read_label_png(str(data / 'SegmentationClass' / f'{image_id}.png'), num_classes=6)
        for folder in ('cam_labels/pseudo_labels', 'enhanced'):
            label = read_label_png(str(work / folder / f'{image_id}.png'), num_classes=6,
                                   shape=gt.shape)
            assert label.max() < 6
    store = MaskStore(str(work / 'masks'))
    assert store.ids() == sorted(train_ids + grid_ids)
    assert 'not SAM' in store.source
    for key in ('cam', 'enhanced'):
        assert sorted(p.stem for p in (work / 'preds' / key).glob('*.png')) == sorted(val_ids)

    # The headline, as a regression test (margins and what is not asserted: module docstring).
    rows = json.loads((work / 'results.json').read_text())
    assert [row['scored on'] for row in rows] == ['train, vs GT'] * 2 + ['val, tools/test.py'] * 2
    cam_labels, enhanced_labels, cam_model, enhanced_model = (row['mIoU'] for row in rows)
    assert enhanced_labels - cam_labels >= LABEL_MARGIN, rows
    assert min(cam_model, enhanced_model) >= MODEL_FLOOR, rows
    # The table is the scorers' own numbers: eval_pseudo_labels.py's JSON for the labels.
    for name, miou in (('cam_labels', cam_labels), ('enhanced_labels', enhanced_labels)):
        scored = json.loads((work / 'eval' / f'{name}.json').read_text())
        assert miou == pytest.approx(100 * scored['metrics']['miou'])
    assert 'not SAM' in rows[1]['what'] and 'not SAM' in rows[3]['what']
    for name in ('report.html', 'report_grid.png', 'report_curves.png'):
        assert (work / 'report' / name).stat().st_size > 0
    html = (work / 'report' / 'report.html').read_text()
    assert 'not SAM' in html and 'SAM)' not in html.replace('not SAM)', '')
    # The printed table and per-stage wall times end the run.
    assert 'enhanced pseudo-labels (masks: oracle-imperfect' in log
    assert len(re.findall(r'^ +\d+\. .* [0-9.]+ s  \(CPU +[0-9.]+ s\)$', log, re.M)) == STAGES
    assert 'total wall time' in log

    # A rerun skips every finished stage and prints the same table.
    second = run_pipeline(repo_root, work)
    assert second.stdout.count('finished earlier, skipped') == STAGES, second.stdout
    assert 'total wall time' in second.stdout
    assert json.loads((work / 'results.json').read_text()) == rows

    # A finished stage whose command changed is refused, naming its marker; nothing reruns.
    changed = run_pipeline(repo_root, work, ['--seg-iters', '3'], check=False)
    assert changed.returncode == 2
    assert 'finished earlier with another command' in changed.stderr
    assert osp.join('stages', 'seg_cam.json') in changed.stderr
