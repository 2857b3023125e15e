"""Shared fixtures: the repo root, and the real VOC subset at ../shared/data/voc_mini.

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
