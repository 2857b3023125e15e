"""Ship what builds: every config file in configs/ builds and trains as shipped.

Every config (not the ``_base_`` files) is changed only in the data it reads, through
``--cfg-options``: ``data_root`` (voc_mini, or a 4 + 2 image shape dataset for ``configs/demo``),
the train ``ann_file`` (4 train ids), and the files a config expects beside the images (TransCAM
labels and an oracle mask store for the SAM-enhanced configs, synthesised weak labels and GT
oracle SeSAM labels for the SeSAM ones: measuring instruments, not SAM). Then:

* ``test_config_builds_as_shipped``: tools/train.py's loading and mmengine's Runner build the
  model, and one sample goes through the shipped train and val pipelines at the shipped sizes.
* ``test_config_trains_as_shipped``: tools/train.py trains it (schedule shortened with
  :func:`~mmseg_sam_wsss.utils.mm_tools.schedule_options`, validation on one val image). The
  demo and smoke configs train 2 iterations here or in the test named in ``TRAINED_ELSEWHERE``.
  The full configs (ResNet-50-D8 on 512 px crops) train 1 iteration with two more changes,
  ``model.pretrained=None`` (they name mmseg's ImageNet ``open-mmlab://resnet50_v1c``, which
  cannot be downloaded here; tools/train.py must then warn) and ``train_dataloader.batch_size=2``
  (2 is the least DeepLabV3's image-pooling branch trains with); that costs 1-2 minutes per
  config on the 2-core CPU, so it runs on a GPU machine, or with ``TRAIN_FULL_CONFIGS=1``.

:func:`data_options` has data for the VOC and demo configs; a config of another dataset skips
with a reason until its data is added there.
"""
import argparse
import glob
import os
import os.path as osp
import re

import pytest
from helpers import run_tool
from synthetic_trees import benchmark_data_options, benchmark_roots, prepare_benchmark_inputs

from mmseg_sam_wsss.core.io import read_label_png, write_label_png
from mmseg_sam_wsss.core.mask_store import MaskStore
from mmseg_sam_wsss.core.rng import image_rng
from mmseg_sam_wsss.core.sesam_select import SeSAMLabeler
from mmseg_sam_wsss.simulation.mask_oracles import OracleMasks
from mmseg_sam_wsss.simulation.prompt_oracles import OraclePromptAnswerer
from mmseg_sam_wsss.simulation.weak_label_synthesis import make_weak_label
from mmseg_sam_wsss.utils.mm_tools import add_config_args, load_config, schedule_options

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(path, REPO_ROOT) for path in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
    if '_base_' not in path)
# Configs that another test trains through tools/train.py (the demo's inside run_pipeline).
TRAINED_ELSEWHERE = {
    'configs/demo/cam_r18_shapes.py': 'tests/test_tools/test_pipeline.py',
    'configs/demo/deeplabv3_r18_shapes.py': 'tests/test_tools/test_pipeline.py',
    'configs/smoke/cam_r50_voc_smoke.py': 'tests/test_tools/test_cam_pipeline.py',
    'configs/smoke/deeplabv3_voc_smoke.py': 'tests/test_tools/test_train_test.py',
    'configs/smoke/deeplabv3_voc_point_smoke.py': 'tests/test_configs/test_sesam_configs.py',
    'configs/smoke/cam_r50_coco_smoke.py': 'tests/test_tools/test_benchmark_pipelines.py',
    'configs/smoke/deeplabv3_coco_smoke.py': 'tests/test_tools/test_benchmark_pipelines.py',
    'configs/smoke/deeplabv3_r50_coco_smoke.py': 'tests/test_tools/test_benchmark_pipelines.py',
    'configs/smoke/deeplabv3_cityscapes_coarse_smoke.py':
        'tests/test_tools/test_benchmark_pipelines.py',
    'configs/smoke/deeplabv3_ade20k_scribble_smoke.py':
        'tests/test_tools/test_benchmark_pipelines.py',
}
NUM_IDS = 4
WEAK_TYPES = ('point', 'scribble', 'coarse')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


@pytest.fixture(scope='module')
def voc_inputs(voc_mini, tmp_path_factory):
    """4 train ids, an oracle mask store, and weak + SeSAM labels of each weak type."""
    root = tmp_path_factory.mktemp('shipped')
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        ids = [line.strip() for line in handle if line.strip()][:NUM_IDS]
    (root / 'ids.txt').write_text('\n'.join(ids) + '\n')
    oracle = OracleMasks()
    store = MaskStore(str(root / 'masks'), create=True, source=oracle.source,
                      settings=oracle.settings)
    for image_id in ids:
        gt_label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        store.write(image_id, oracle.generate(gt_label, image_id))
        for weak_type in WEAK_TYPES:
            weak_label, _ = make_weak_label(gt_label, weak_type, image_rng(0, image_id))
            write_label_png(str(root / 'weak' / weak_type / f'{image_id}.png'), weak_label)
            sesam_label = SeSAMLabeler()(weak_label, OraclePromptAnswerer(gt_label),
                                         rng=image_rng(0, image_id))
            write_label_png(str(root / 'sesam' / weak_type / f'{image_id}.png'), sesam_label)
    # synthetic COCO, Cityscapes and ADE20K trees for the configs of those datasets
    prepare_benchmark_inputs(str(root / 'benchmarks'))
    return root


@pytest.fixture(scope='module')
def shapes_root(repo_root, tmp_path_factory):
    """A 4 train + 2 val image procedural shape dataset for configs/demo."""
    root = tmp_path_factory.mktemp('shapes') / 'data'
    run_tool(repo_root, ['tools/make_synthetic_dataset.py', '--out', str(root), '--num-train',
                         str(NUM_IDS), '--num-val', '2'])
    # point labels and GT-oracle SeSAM labels (not SAM) for configs/demo/sesam_*.py
    with open(root / 'ImageSets' / 'Segmentation' / 'train.txt') as handle:
        for image_id in handle.read().split():
            gt_label = read_label_png(str(root / 'SegmentationClass' / f'{image_id}.png'))
            weak_label, _ = make_weak_label(gt_label, 'point', image_rng(0, image_id))
            write_label_png(str(root / 'weak_labels' / f'{image_id}.png'), weak_label)
            sesam_label = SeSAMLabeler()(weak_label, OraclePromptAnswerer(gt_label),
                                         rng=image_rng(0, image_id))
            write_label_png(str(root / 'sesam_labels' / f'{image_id}.png'), sesam_label)
    return root


def data_options(config: str, voc_mini: str, voc_inputs, shapes_root) -> list:
    """The ``--cfg-options`` that point ``config`` at the test data (nothing else)."""
    if config.startswith('configs/demo/'):
        options = [f'{loader}.dataset.data_root={shapes_root}' for loader in LOADERS]
        if 'cam' in config:
            options += [f'{loader}.dataset.pipeline.LoadImageTags.cls_labels_file='
                        f'{shapes_root}/cls_labels.json' for loader in LOADERS]
        return options
    benchmark = benchmark_data_options(config, benchmark_roots(str(voc_inputs / 'benchmarks')))
    if benchmark is not None:
        return benchmark
    options = [f'{loader}.dataset.data_root={voc_mini}' for loader in LOADERS]
    options.append(f'train_dataloader.dataset.ann_file={voc_inputs / "ids.txt"}')
    name = osp.basename(config)
    if name.startswith('deeplabv3_voc.') or name.startswith('deeplabv3_voc_smoke.'):
        options += ['train_dataloader.dataset.data_prefix.seg_map_path=pseudo_labels/transcam',
                    'train_dataloader.dataset.pipeline.LoadSAMMasks.mask_root='
                    f'{voc_inputs / "masks"}']
    weak_type = next((weak for weak in WEAK_TYPES if f'_{weak}' in name), None)
    if weak_type:
        options += [f'train_dataloader.dataset.data_prefix.seg_map_path='
                    f'{voc_inputs / "sesam" / weak_type}',
                    'train_dataloader.dataset.data_prefix.weak_label_path='
                    f'{voc_inputs / "weak" / weak_type}']
    return options


def parse_tool_args(config: str, options: list, work_dir: str) -> argparse.Namespace:
    """``options`` parsed exactly as tools/train.py parses its ``--cfg-options``."""
    parser = argparse.ArgumentParser()
    add_config_args(parser)
    return parser.parse_args([config, '--work-dir', work_dir, '--cfg-options'] + options)


@pytest.mark.slow
@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_as_shipped(repo_root, voc_mini, voc_inputs, shapes_root, config,
                                  tmp_path):
    from mmengine.runner import Runner

    options = data_options(config, voc_mini, voc_inputs, shapes_root)
    cfg = load_config(parse_tool_args(osp.join(repo_root, config), options, str(tmp_path)))
    cfg.experiment_name = f'{osp.basename(config)[:-3]}_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)  # builds the model; weights would load only in train()
    model = runner.model
    assert sum(param.numel() for param in model.parameters()) > 10**6
    crop = tuple(cfg.model.get('segmentor', cfg.model).data_preprocessor.size)
    sample = runner.build_dataloader(cfg.train_dataloader).dataset[0]
    assert sample['inputs'].shape[0] == 3
    assert all(side <= limit for side, limit in zip(sample['inputs'].shape[1:], crop))
    assert sample['data_samples'].gt_sem_seg.data.shape[1:] == sample['inputs'].shape[1:]
    if 'LoadWeakLabel' in str(cfg.train_dataloader.dataset.pipeline):
        assert sample['data_samples'].gt_weak_label.data.shape == \
            sample['data_samples'].gt_sem_seg.data.shape
    if 'LoadImageTags' in str(cfg.train_dataloader.dataset.pipeline):
        assert len(sample['data_samples'].metainfo['image_tags']) > 0
    val_sample = runner.build_dataloader(cfg.val_dataloader).dataset[0]
    assert val_sample['data_samples'].gt_sem_seg.data.ndim == 3


def full_config(config: str) -> bool:
    return config.split('/')[1] in ('sam_wsss', 'baselines', 'sesam')


def train_cases():
    """The configs test_config_trains_as_shipped runs, the full ones only where affordable."""
    import torch

    affordable = torch.cuda.is_available() or os.environ.get('TRAIN_FULL_CONFIGS') == '1'
    skip = pytest.mark.skip(reason='a full config (ResNet-50-D8, 512 px crops) costs 1-2 min '
                            'per iteration on a CPU: runs on a GPU or with TRAIN_FULL_CONFIGS=1')
    return [pytest.param(config, marks=() if affordable or not full_config(config) else skip)
            for config in CONFIGS if config not in TRAINED_ELSEWHERE]


def test_configs_trained_elsewhere_are():
    """Each config of TRAINED_ELSEWHERE is named by its test, or by tools/run_pipeline.py (its
    stage lists in mmseg_sam_wsss/pipeline/) when that test runs the driver."""
    def read(path: str) -> str:
        with open(osp.join(REPO_ROOT, path), encoding='utf-8') as handle:
            return handle.read()

    driver = read('tools/run_pipeline.py') + ''.join(  # the tool and its stage lists
        read(osp.relpath(path, REPO_ROOT))
        for path in glob.glob(osp.join(REPO_ROOT, 'mmseg_sam_wsss', 'pipeline', '*.py')))
    for config, test in TRAINED_ELSEWHERE.items():
        source = read(test)
        assert config in CONFIGS
        templated = re.sub(r'_(point|scribble|coarse)_', '_{weak_type}_', config)
        assert (config in source or templated in source
                or ('tools/run_pipeline.py' in source and f"'{config}'" in driver)), (config, test)


@pytest.mark.slow
@pytest.mark.parametrize('config', train_cases())
def test_config_trains_as_shipped(repo_root, voc_mini, voc_inputs, shapes_root, config,
                                  tmp_path):
    iters = 1 if full_config(config) else 2
    options = data_options(config, voc_mini, voc_inputs, shapes_root) + schedule_options(
        iters, log_interval=1) + ['val_dataloader.dataset.indices=1']
    if full_config(config):
        segmentor = 'model.segmentor' if '/sesam/' in config else 'model'
        options += [f'{segmentor}.pretrained=None', 'train_dataloader.batch_size=2']
    result = run_tool(repo_root, ['tools/train.py', config, '--work-dir', str(tmp_path),
                                  '--cfg-options'] + options)
    log = result.stdout + result.stderr
    losses = [float(value) for value in re.findall(r'Iter\(train\).*? loss: ([0-9.]+)', log)]
    assert len(losses) == iters and all(loss > 0 for loss in losses), log[-3000:]
    assert re.search(r'Iter\(val\) \[1/1\]', log), log[-3000:]
    assert osp.isfile(tmp_path / f'iter_{iters}.pth')
    # Without ImageNet weights a real-data config warns how to pass them; the demo's shapes and
    # the smoke configs train from scratch on purpose and do not.
    warned = 'warning: ' in result.stderr and 'trains the backbone from scratch' in result.stderr
    assert warned == full_config(config), result.stderr[-2000:]
