"""tools/generate_sam_masks.py: oracle/superpixel stores the merge tool reads (the oracle lifts
TransCAM's mIoU on voc_mini), random-init SAM batching (a wiring test, NOT a SAM result),
bad inputs, resume after SIGKILL, and 2-rank sharding under torchrun (gloo, CPU)."""
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import load_tool
from PIL import Image

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.simulation.mask_oracles import IMPERFECT_ORACLE_SOURCE, ORACLE_SOURCE
from mmseg_sam_wsss.core.mask_store import MaskStore
from mmseg_sam_wsss.core.metrics import mean_iou
from mmseg_sam_wsss.visualization.report import mask_source_text

TOOL = 'generate_sam_masks'


@pytest.fixture(scope='module')
def tool(repo_root):
    return load_tool(repo_root, TOOL)


@pytest.fixture(scope='module')
def enhance_tool(repo_root):
    return load_tool(repo_root, 'enhance_pseudo_labels')


def run_main(module, argv):
    with pytest.raises(SystemExit) as exit_info:
        module.run_tool(lambda: module.main(argv))
    return exit_info.value.code


def write_ids(path, ids):
    path.write_text('\n'.join(ids) + '\n')
    return str(path)


def train_ids(voc_mini, count):
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        return [line.strip() for line in handle if line.strip()][:count]


def voc_args(voc_mini, ids_file, out):
    return ['--img-dir', osp.join(voc_mini, 'JPEGImages'), '--ids', ids_file, '--out', out,
            '--gt-dir', osp.join(voc_mini, 'SegmentationClass')]


def enhanced_miou(voc_mini, enhance_tool, store_root, ids_file, ids, out):
    argv = ['--pseudo-dir', osp.join(voc_mini, 'pseudo_labels', 'transcam'), '--masks',
            store_root, '--out', out, '--ids', ids_file]
    assert run_main(enhance_tool, argv) == 0
    gts = [read_label_png(osp.join(voc_mini, 'SegmentationClass', i + '.png')) for i in ids]
    labels = [read_label_png(osp.join(out, i + '.png')) for i in ids]
    return mean_iou(labels, gts, 21)


def test_oracle_stores_feed_the_merge_and_beat_transcam(voc_mini, tool, enhance_tool, tmp_path,
                                                        capsys):
    ids = train_ids(voc_mini, 6)
    ids_file = write_ids(tmp_path / 'ids.txt', ids)
    gts = [read_label_png(osp.join(voc_mini, 'SegmentationClass', i + '.png')) for i in ids]
    cams = [read_label_png(osp.join(voc_mini, 'pseudo_labels', 'transcam', i + '.png'))
            for i in ids]
    transcam = mean_iou(cams, gts, 21)
    results = {}
    for name, extra in (('oracle', []), ('imperfect', ['--oracle-imperfect', '--seed', '1'])):
        out = str(tmp_path / name)
        argv = voc_args(voc_mini, ids_file, out) + ['--source', 'oracle'] + extra
        capsys.readouterr()
        assert run_main(tool, argv) == 0
        printed = capsys.readouterr().out.strip().splitlines()
        store = MaskStore(out)
        source = ORACLE_SOURCE if name == 'oracle' else IMPERFECT_ORACLE_SOURCE
        assert store.source == source and store.ids() == sorted(ids)
        assert mask_source_text(store.source) == source  # says 'not SAM' itself
        assert printed and all(source in line for line in printed)
        assert printed[-2].startswith('6 written, 0 already done (skipped), 0 bad')
        assert ' masks in 6 images; masks per image mean ' in printed[-1]
        results[name] = enhanced_miou(voc_mini, enhance_tool, out, ids_file, ids,
                                      str(tmp_path / f'enhanced_{name}'))
    assert MaskStore(str(tmp_path / 'imperfect')).settings['seed'] == 1
    print(f'mIoU on {len(ids)} voc_mini train ids: TransCAM {transcam:.3f}, + oracle '
          f'{results["oracle"]:.3f}, + imperfect oracle {results["imperfect"]:.3f}')
    assert results['oracle'] > transcam + 0.05
    assert results['imperfect'] > transcam


def test_superpixel_store_feeds_the_merge(voc_mini, tool, enhance_tool, tmp_path, capsys):
    ids = train_ids(voc_mini, 2)
    ids_file = write_ids(tmp_path / 'ids.txt', ids)
    out = str(tmp_path / 'slic')
    argv = ['--img-dir', osp.join(voc_mini, 'JPEGImages'), '--ids', ids_file, '--out', out,
            '--source', 'superpixel', '--superpixel', 'slic', '--sp-segments', '50']
    assert run_main(tool, argv) == 0
    assert 'superpixel-slic (not SAM)' in capsys.readouterr().out
    store = MaskStore(out)
    assert store.source == 'superpixel-slic (not SAM)'
    masks = store.read(ids[0]).decode()
    assert (masks.sum(0) == 1).all()  # a partition of the image
    assert 0 <= enhanced_miou(voc_mini, enhance_tool, out, ids_file, ids,
                              str(tmp_path / 'enhanced')) <= 1


def make_images(root, sizes=((40, 56), (48, 48), (36, 60))):
    """Small RGB PNG images ``img_<k>`` with two colour blocks each."""
    os.makedirs(root, exist_ok=True)
    ids = []
    for index, (height, width) in enumerate(sizes):
        image = np.zeros((height, width, 3), np.uint8)
        image[:, :width // 2] = (40 * index, 200, 30)
        image[:, width // 2:] = (30, 30, 220)
        Image.fromarray(image).save(osp.join(root, f'img_{index}.png'))
        ids.append(f'img_{index}')
    return ids


def test_random_init_sam_batches_images_and_is_marked_not_sam(tool, tmp_path, capsys,
                                                              monkeypatch):
    from mmseg_sam_wsss.sam.automatic_mask_generator import FastAutomaticMaskGenerator
    ids = make_images(str(tmp_path / 'images'))
    batches = []
    original = FastAutomaticMaskGenerator.generate_batch

    def recording(self, images, on_image=None):
        batches.append(len(images))
        return original(self, images, on_image=on_image)

    monkeypatch.setattr(FastAutomaticMaskGenerator, 'generate_batch', recording)
    out = str(tmp_path / 'store')
    argv = ['--img-dir', str(tmp_path / 'images'), '--img-suffix', '.png', '--out', out,
            '--random-init-for-tests', '--device', 'cpu', '--points-per-side', '4',
            '--image-batch-size', '2', '--pred-iou-thresh', '0', '--stability-score-thresh',
            '0']
    assert run_main(tool, argv) == 0
    assert batches == [2, 1]
    captured = capsys.readouterr()
    printed = captured.out.strip().splitlines()
    assert all('sam-random-init (not SAM)' in line for line in printed)
    counts = [len(MaskStore(out).read(image_id)) for image_id in ids]
    assert (f'{sum(counts)} masks in 3 images; masks per image mean {sum(counts) / 3:.1f}, '
            f'min {min(counts)}, max {max(counts)}; 0 images with 0 masks') in printed[-1]
    assert 'WARNING' not in captured.err
    store = MaskStore(out)
    assert store.source == 'sam-random-init (not SAM)' and store.ids() == ids
    assert store.settings['points_per_side'] == 4 and store.settings['model_type'] == 'tiny'
    mask_set = store.read('img_1')
    assert (mask_set.height, mask_set.width) == (48, 48)
    assert mask_set.settings['rank'] == 0 and mask_set.settings['world_size'] == 1
    # a rerun skips everything; other mask settings are refused
    assert run_main(tool, argv) == 0
    assert '0 written, 3 already done (skipped)' in capsys.readouterr().out
    assert run_main(tool, argv[:-1] + ['0.5']) == 2
    error = capsys.readouterr().err
    assert '.provenance.json' in error and 'stability_score_thresh: 0.0 -> 0.5' in error


def test_bad_inputs_name_the_file_and_skip_bad_counts_them(tool, tmp_path, capsys):
    images = tmp_path / 'images'
    ids = make_images(str(images), sizes=((30, 40), ))
    Image.new('LA', (40, 30)).save(images / 'grey.png')  # grey + alpha (plain grey is read)
    Image.new('RGBA', (40, 30)).save(images / 'rgba.png')
    (images / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n not really')
    Image.new('RGB', (200, 100)).save(images / 'large.png')
    common = ['--img-dir', str(images), '--img-suffix', '.png', '--source', 'superpixel',
              '--max-pixels', '10000']
    for bad_id, message in (('grey', "mode is 'LA'"), ('rgba', "mode is 'RGBA'"),
                            ('broken', 'cannot read image'), ('large', 'above the limit'),
                            ('missing', 'image not found')):
        ids_file = write_ids(tmp_path / f'{bad_id}.txt', [bad_id])
        code = run_main(tool, common + ['--ids', ids_file, '--out', str(tmp_path / bad_id)])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert code == 2 and f'error: {images / bad_id}.png: ' in error and message in error
    (tmp_path / 'empty.txt').write_text('\n')
    code = run_main(tool, common + ['--ids', str(tmp_path / 'empty.txt'), '--out',
                                    str(tmp_path / 'x')])
    assert code == 2 and 'empty.txt: the id list is empty' in capsys.readouterr().err
    all_ids = write_ids(tmp_path / 'all.txt', ids + ['grey', 'rgba', 'broken', 'large'])
    out = str(tmp_path / 'skip')
    assert run_main(tool, common + ['--ids', all_ids, '--out', out, '--skip-bad']) == 3
    captured = capsys.readouterr()
    assert '1 written, 0 already done (skipped), 4 bad' in captured.out
    skipped = [line for line in captured.err.splitlines() if '[skip-bad]' in line]
    assert len(skipped) == 4 and all('superpixel-felzenszwalb (not SAM)' in line
                                     for line in skipped)
    assert MaskStore(out).ids() == ids
    # oracle: a missing or mis-sized GT names the GT file
    gt_dir = tmp_path / 'gt'
    gt_dir.mkdir()
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(gt_dir / 'img_0.png')
    ids_file = write_ids(tmp_path / 'one.txt', ids)
    code = run_main(tool, ['--img-dir', str(images), '--img-suffix', '.png', '--ids', ids_file,
                           '--out', str(tmp_path / 'oracle'), '--source', 'oracle',
                           '--gt-dir', str(gt_dir)])
    error = capsys.readouterr().err
    assert code == 2 and str(gt_dir / 'img_0.png') in error and '10x10' in error
    code = run_main(tool, ['--img-dir', str(images), '--img-suffix', '.png', '--ids', ids_file,
                           '--out', str(tmp_path / 'o2'), '--source', 'oracle', '--gt-dir',
                           str(gt_dir), '--oracle-options', 'merge_prb=1'])
    assert code == 2 and 'merge_prb=1' in capsys.readouterr().err


def store_files(root):
    return {name: (os.stat(osp.join(root, name)).st_mtime_ns,
                   open(osp.join(root, name), 'rb').read())
            for name in os.listdir(root) if name.endswith('.samm') and not name.startswith('.')}


@pytest.mark.slow
def test_sigkill_then_rerun_loses_nothing(voc_mini, repo_root, tmp_path):
    ids = train_ids(voc_mini, 20)
    ids_file = write_ids(tmp_path / 'ids.txt', ids)
    out = str(tmp_path / 'store')
    command = [sys.executable, osp.join(repo_root, 'tools', TOOL + '.py')] + voc_args(
        voc_mini, ids_file, out) + ['--source', 'oracle', '--oracle-imperfect']
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if osp.isdir(out) and len(store_files(out)) >= 3:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    before = store_files(out)
    assert 3 <= len(before) < len(ids)
    # as a kill mid-write leaves: atomic_write's name for this machine and the killed pid
    from mmseg_sam_wsss.core.io import _HOST_TAG
    with open(osp.join(out, f'.tmp-{_HOST_TAG}-{process.pid}-abc{ids[-1]}.samm'), 'wb') as handle:
        handle.write(b'half')
    rerun = subprocess.run(command, capture_output=True, text=True, check=True)
    assert (f'{len(ids) - len(before)} written, {len(before)} already done (skipped), 0 bad'
            in rerun.stdout)
    after = store_files(out)
    assert sorted(name[:-5] for name in after) == sorted(ids)
    assert all(after[name] == before[name] for name in before)  # same mtime and bytes
    assert not [name for name in os.listdir(out) if name.startswith('.tmp-')]


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_under_torchrun_write_every_id_once(voc_mini, repo_root, tool, tmp_path,
                                                      capsys):
    ids = train_ids(voc_mini, 9)
    ids_file = write_ids(tmp_path / 'ids.txt', ids)
    out = str(tmp_path / 'store')
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1',
               PATH=osp.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    command = [osp.join(repo_root, 'tools', 'dist_generate_sam_masks.sh'), '2'] + voc_args(
        voc_mini, ids_file, out) + ['--source', 'oracle']
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f'9 written, 0 already done (skipped), 0 bad over 2 ranks; masks from ' \
           f'{ORACLE_SOURCE}; store {out} holds 9 images' in result.stdout
    assert len(re.findall(r'\[rank [01]/2\] masks from', result.stdout)) == 2
    store = MaskStore(out)
    by_rank = {0: [], 1: []}
    for image_id in store.ids():
        settings = store.read(image_id).settings
        assert settings['world_size'] == 2
        by_rank[settings['rank']].append(image_id)
    assert sorted(by_rank[0] + by_rank[1]) == sorted(ids)  # union: every id
    assert not set(by_rank[0]) & set(by_rank[1])  # disjoint shards
    assert by_rank[0] == sorted(ids[0::2]) and by_rank[1] == sorted(ids[1::2])
    # a single-process rerun finds them all done
    assert run_main(tool, voc_args(voc_mini, ids_file, out) + ['--source', 'oracle']) == 0
    assert '0 written, 9 already done (skipped), 0 bad' in capsys.readouterr().out


def test_device_follows_local_rank(monkeypatch):
    import torch

    from mmseg_sam_wsss.errors import SamWsssError
    from mmseg_sam_wsss.sam.builder import resolve_device
    monkeypatch.setenv('LOCAL_RANK', '3')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert resolve_device('auto') == 'cuda:3' and resolve_device('cuda') == 'cuda:3'
    assert resolve_device('cuda:1') == 'cuda:1'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert resolve_device('auto') == 'cpu'
    with pytest.raises(SamWsssError, match='--device cuda: no CUDA GPU here'):
        resolve_device('cuda')


def test_a_store_of_zero_masks_warns(tool, tmp_path, capsys):
    ids = make_images(str(tmp_path / 'images'))
    out = str(tmp_path / 'store')
    argv = ['--img-dir', str(tmp_path / 'images'), '--img-suffix', '.png', '--out', out,
            '--random-init-for-tests', '--device', 'cpu', '--points-per-side', '2',
            '--pred-iou-thresh', '1.0']  # no predicted IoU is above 1: no mask passes
    assert run_main(tool, argv) == 0
    captured = capsys.readouterr()
    assert f'0 masks in {len(ids)} images' in captured.out
    warnings = [line for line in captured.err.splitlines() if line.startswith('WARNING')]
    assert len(warnings) == 1 and 'holds 0 masks in all 3 images' in warnings[0]
    assert '--pred-iou-thresh' in warnings[0]
