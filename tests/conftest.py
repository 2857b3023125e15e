"""Shared fixtures: the repo root, the real VOC subset at ../shared/data/voc_mini, and the
``--cfg-options`` that point a config at it.

Tests that need voc_mini skip with a reason when it is absent. Point ``VOC_MINI`` elsewhere to
use another copy. The data is read-only: tests write only under ``tmp_path``.
"""
import os
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
VOC_MINI = os.environ.get('VOC_MINI', osp.join(REPO_ROOT, '..', 'shared', 'data', 'voc_mini'))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT


@pytest.fixture(scope='session')
def voc_mini() -> str:
    """Path of the real VOC 2012 subset; skips the test when it is not there."""
    if not osp.isfile(osp.join(VOC_MINI, 'ImageSets', 'Segmentation', 'train.txt')):
        pytest.skip(f'voc_mini not found at {VOC_MINI} (set VOC_MINI=... to run this test)')
    return osp.abspath(VOC_MINI)


def voc_mini_options(data_root: str, val_images: int = 4) -> list:
    """``--cfg-options`` pointing a VOC config (full or ``configs/smoke/``) at ``data_root``.

    Training reads ``train.txt`` (voc_mini has no train_aug); validation and test see only the
    first ``val_images`` val images. The model and the
    schedule stay the config's: the small CPU models are the files ``configs/smoke/*_smoke.py``,
    other lengths come from :func:`mmseg_sam_wsss.utils.mm_tools.schedule_options`.
    """
    options = [f'{loader}.dataset.data_root={data_root}'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    # voc_mini has VOC's train split only, no train_aug (the VOC configs' training set)
    options.append('train_dataloader.dataset.ann_file=ImageSets/Segmentation/train.txt')
    return options + [f'{loader}.dataset.indices={val_images}'
                      for loader in ('val_dataloader', 'test_dataloader')]


@pytest.fixture(scope='session')
def voc_options():
    """The :func:`voc_mini_options` builder, for tests in any folder."""
    return voc_mini_options


# The longest test files, measured (seconds of one worker): they start first, so that under
# ``make test``'s two pytest-xdist workers (``--no-loadscope-reorder`` keeps this order) no
# worker is left with one of them at the end.
LONGEST_FIRST = ('tests/test_tools/test_pipeline.py',
                 'tests/test_benchmarks/test_bench_sesam_demo.py',
                 'tests/test_tools/test_benchmark_pipelines.py',
                 'tests/test_tools/test_voc_trainaug.py')


def pytest_collection_modifyitems(config, items):
    """Run the longest files first, then files with ``slow`` tests, each file in its own order."""
    files_with_slow = {item.nodeid.split('::')[0] for item in items
                       if item.get_closest_marker('slow') is not None}

    def rank(item) -> int:
        path = item.nodeid.split('::')[0]
        if path in LONGEST_FIRST:
            return LONGEST_FIRST.index(path)
        return len(LONGEST_FIRST) + (path not in files_with_slow)

    items.sort(key=rank)
