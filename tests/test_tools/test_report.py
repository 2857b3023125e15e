"""Report renderer: table, picture grid with the mask source, loss curves, tool wiring."""
import json
import os.path as osp
import re
import runpy
import sys

import numpy as np
import pytest
from PIL import Image

from mmseg_sam_wsss.core.io import write_label_png
from mmseg_sam_wsss.core.mask_store import MaskSet, MaskStore
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.visualization.report import (GridInputs, format_text_table, grid_panels,
                                         mask_column_title, read_loss_curve, table_columns)

IDS = ['a_0', 'a_1', 'a_2']
ROWS = [{'what': 'CAM pseudo-labels (train)', 'mIoU': 41.234},
        {'what': 'enhanced <labels>', 'mIoU': 55.0, 'note': 'oracle-simulated masks'}]


def _fake_inputs(root):
    """Images, GT/CAM/enhanced/prediction labels, an oracle mask store and two work dirs."""
    rng = np.random.default_rng(0)
    store = MaskStore(str(root / 'masks'), create=True, source='oracle-simulated')
    for index, image_id in enumerate(IDS):
        gt = np.zeros((24, 32), dtype=np.uint8)
        gt[4:12, 4:12], gt[14:22, 10 + index:20 + index] = 1, 2
        gt[0, :] = 255
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(
            root / 'img' / f'{image_id}.jpg')
        for name in ('gt', 'cam', 'enh', 'pred'):
            write_label_png(str(root / name / f'{image_id}.png'), gt)
        store.write(image_id, MaskSet.from_masks(np.stack([gt == 1, gt == 2]),
                                                 source='oracle-simulated'))
    for name, offset in (('wd_cam', 0.0), ('wd_enh', 0.5)):
        vis = root / name / '20260101_000000' / 'vis_data'
        vis.mkdir(parents=True)
        lines = [json.dumps({'loss': 2.0 - it / 10 + offset, 'decode.loss_ce': 1.0, 'iter': it,
                             'step': it}) for it in range(1, 11)]
        lines.append(json.dumps({'mIoU': 12.5, 'aAcc': 80.0, 'step': 10}))
        (vis / 'scalars.json').write_text('\n'.join(lines) + '\n')
    (root / 'table.json').write_text(json.dumps(ROWS))


@pytest.fixture
def fake_dirs(tmp_path):
    (tmp_path / 'img').mkdir()
    _fake_inputs(tmp_path)
    return tmp_path


def _main(repo_root):
    return runpy.run_path(osp.join(repo_root, 'tools', 'make_report.py'),
                          run_name='make_report')['main']


def test_text_table_and_columns():
    assert table_columns(ROWS) == ['what', 'mIoU', 'note']
    lines = format_text_table(ROWS).splitlines()
    assert lines[0].split() == ['what', 'mIoU', 'note'] and set(lines[1]) <= {'-', ' '}
    assert '41.23' in lines[2] and 'oracle-simulated masks' in lines[3]
    # columns are aligned: 'mIoU' starts at the same offset on every line
    start = lines[0].index('mIoU')
    assert lines[2][start:start + 5] == '41.23' and lines[3][start:start + 5] == '55.00'


def test_mask_column_title_says_when_not_sam():
    assert mask_column_title('oracle-simulated') == 'masks (oracle-simulated, not SAM)'
    assert mask_column_title('superpixel') == 'masks (superpixel, not SAM)'
    assert mask_column_title('sam-random-init (not SAM)') == 'masks (sam-random-init (not SAM))'
    assert mask_column_title('sam') == 'masks (sam)'


def test_loss_curve_merges_resumed_runs(tmp_path):
    for stamp, iters, value in (('20260101_000000', range(1, 6), 1.0),
                                ('20260101_010000', range(5, 9), 2.0)):
        vis = tmp_path / stamp / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(''.join(
            json.dumps({'loss': value, 'iter': it}) + '\n' for it in iters)
            + json.dumps({'mIoU': 1.0, 'step': 8}) + '\n')
    iters, losses = read_loss_curve(str(tmp_path))
    assert iters.tolist() == list(range(1, 9))
    assert losses.tolist() == [1.0] * 4 + [2.0] * 4  # the resumed run wins on iter 5
    with pytest.raises(SamWsssError, match='scalars.json'):
        read_loss_curve(str(tmp_path / 'nowhere'))


def test_make_report_writes_html_grid_and_curves(repo_root, fake_dirs, monkeypatch, capsys):
    root = fake_dirs
    out = root / 'report'
    monkeypatch.setattr(sys, 'argv', [
        'make_report.py', '--out', str(out), '--title', 'Tiny <demo>', '--table',
        str(root / 'table.json'), '--img-dir', str(root / 'img'), '--gt-dir', str(root / 'gt'),
        '--cam-dir', str(root / 'cam'), '--masks', str(root / 'masks'), '--enhanced-dir',
        str(root / 'enh'), '--pred-dirs', f'cam_model={root / "pred"}', '--grid-rows', '2',
        '--work-dirs', f'cam={root / "wd_cam"}', f'enhanced={root / "wd_enh"}'])
    assert _main(repo_root)() == 0
    printed = capsys.readouterr().out
    assert 'CAM pseudo-labels (train)' in printed and '41.23' in printed

    page = (out / 'report.html').read_text()
    assert '<h1>Tiny &lt;demo&gt;</h1>' in page and 'enhanced &lt;labels&gt;' in page
    assert 'Mask source: oracle-simulated, not SAM.' in page
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(sources) == ['report_curves.png', 'report_grid.png']
    for source in sources:
        with Image.open(out / source) as image:
            assert image.format == 'PNG' and image.size[0] > 300
    with Image.open(out / 'report_grid.png') as image:
        grid_size = image.size
    # two rows of six columns: wider than tall
    assert grid_size[0] > grid_size[1]


def test_grid_panels_rows_columns_and_titles(fake_dirs):
    root = fake_dirs
    inputs = GridInputs(img_dir=str(root / 'img'), gt_dir=str(root / 'gt'),
                        cam_dir=str(root / 'cam'), masks=str(root / 'masks'),
                        enhanced_dir=str(root / 'enh'), pred_dirs=[('m', str(root / 'pred'))])
    panels, ncols, source = grid_panels(inputs, IDS[:2], num_classes=3)
    assert source == 'oracle-simulated' and ncols == 6 and len(panels) == 12
    assert [title for title, _ in panels[:6]] == [
        'a_0', 'CAM pseudo-label', 'masks (oracle-simulated, not SAM)', 'enhanced label', 'GT',
        'prediction: m']
    assert panels[6][0] == 'a_1' and all(title == '' for title, _ in panels[7:])
    assert panels[2][1].shape == (24, 32, 3) and panels[4][1].shape == (24, 32)
    with pytest.raises(SamWsssError, match='class ids < 2'):
        grid_panels(inputs, IDS[:1], num_classes=2)
    # other label folders (weak labels, SeSAM rounds) go between the enhanced label and the GT
    inputs = GridInputs(img_dir=str(root / 'img'), gt_dir=str(root / 'gt'),
                        label_dirs=[('weak label', str(root / 'cam')),
                                    ('SeSAM round 1', str(root / 'enh'))])
    panels, ncols, _ = grid_panels(inputs, IDS[:1], num_classes=3)
    assert [title for title, _ in panels] == ['a_0', 'weak label', 'SeSAM round 1', 'GT']


def test_grid_errors_and_allow_missing(repo_root, fake_dirs, monkeypatch):
    root = fake_dirs
    (root / 'pred' / 'a_0.png').unlink()
    (root / 'cam' / 'a_1.png').unlink()
    (root / 'cam' / 'a_2.png').unlink()
    base = ['make_report.py', '--out', str(root / 'r'), '--title', 't', '--table',
            str(root / 'table.json'), '--img-dir', str(root / 'img'), '--cam-dir',
            str(root / 'cam'), '--pred-dirs', f'p={root / "pred"}']
    main = _main(repo_root)
    monkeypatch.setattr(sys, 'argv', base)
    with pytest.raises(SamWsssError, match='--allow-missing'):
        main()
    monkeypatch.setattr(sys, 'argv', base + ['--allow-missing'])
    assert main() == 0 and (root / 'r' / 'report_grid.png').is_file()
    page = (root / 'r' / 'report.html').read_text()
    assert 'No class-agnostic masks shown.' in page and 'report_curves.png' not in page
    monkeypatch.setattr(sys, 'argv', base + ['--pred-dirs', 'no_equals_sign'])
    with pytest.raises(SamWsssError, match='NAME=DIR'):
        main()
    monkeypatch.setattr(sys, 'argv', ['make_report.py', '--out', str(root / 'r'), '--title', 't',
                                      '--table', str(root / 'table.json'), '--gt-dir',
                                      str(root / 'gt')])
    with pytest.raises(SamWsssError, match='--img-dir'):
        main()
    (root / 'bad.json').write_text('{"what": 1}')
    monkeypatch.setattr(sys, 'argv', ['make_report.py', '--out', str(root / 'r'), '--title', 't',
                                      '--table', str(root / 'bad.json')])
    with pytest.raises(SamWsssError, match='list of objects'):
        main()
