"""Procedural shape scenes: shapes, occlusion, determinism, and the written VOC-layout dataset."""
import json
import os
import os.path as osp
import runpy
import subprocess
import sys

import numpy as np
import pytest

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.simulation.scenes import (SHAPE_CLASSES, SceneGenerator, ignore_band,
                                                  present_class_ids, scene_rng, shape_mask)
from mmseg_sam_wsss.errors import SamWsssError


def test_shape_masks_have_expected_geometry():
    disc = shape_mask('disc', 64, (32, 32), 10, 0.0)
    assert disc[32, 32] and disc[32, 41] and not disc[32, 43]
    assert abs(disc.sum() - np.pi * 100) < 0.1 * np.pi * 100
    ring = shape_mask('ring', 64, (32, 32), 10, 0.0)
    assert not ring[32, 32] and ring[32, 40]  # hole in the middle, band at 0.55..1 radius
    square = shape_mask('square', 64, (32, 32), 10, 0.0)
    # axis-aligned square of half side 10 / sqrt(2)
    assert square[32 + 6, 32 + 6] and not square[32 + 9, 32 + 9]
    star = shape_mask('star', 64, (32, 32), 10, 0.0)
    assert star[32, 32] and star.sum() < disc.sum()
    with pytest.raises(SamWsssError):
        shape_mask('hexagon', 64, (32, 32), 10, 0.0)


def test_ignore_band_sits_on_instance_borders():
    instance = np.zeros((20, 20), dtype=np.uint8)
    instance[5:15, 5:15] = 1
    band = ignore_band(instance, 5)
    assert band[5, 10] and band[4, 10] and not band[10, 10] and not band[0, 0]
    assert not ignore_band(instance, 0).any()
    # width 3 must not flood the image (binary_dilation with 0 iterations would)
    assert not ignore_band(instance, 3)[0, 0]


def test_later_object_wins_where_objects_overlap():
    generator = SceneGenerator(size=64, min_objects=4, max_objects=4)
    overlap_pixels = 0
    for index in range(10):
        scene = generator.generate(scene_rng(0, 'train', index))
        masks, class_ids = scene.object_masks, np.array(scene.object_class_ids)
        covered = masks.any(axis=0)
        topmost = len(masks) - 1 - np.argmax(masks[::-1], axis=0)  # last painter per pixel
        assert np.array_equal(scene.label[covered], class_ids[topmost[covered]])
        assert np.array_equal(scene.instance[covered], topmost[covered] + 1)
        assert not scene.label[~covered].any() and not scene.instance[~covered].any()
        overlap_pixels += int((masks.sum(axis=0) >= 2).sum())
        assert present_class_ids(scene.label) == sorted(set(class_ids[topmost[covered]].tolist()))
    assert overlap_pixels > 0, 'no overlapping objects in 10 scenes of 4 objects'


def test_same_seed_same_scene_other_seed_other_scene():
    generator = SceneGenerator(size=48)
    first = generator.generate(scene_rng(3, 'val', 5))
    again = generator.generate(scene_rng(3, 'val', 5))
    other = generator.generate(scene_rng(4, 'val', 5))
    assert np.array_equal(first.image, again.image) and np.array_equal(first.label, again.label)
    assert not np.array_equal(first.image, other.image)


def _tool_main(repo_root):
    """The tool's ``main``, to call in-process (a subprocess costs seconds of imports)."""
    return runpy.run_path(osp.join(repo_root, 'tools', 'make_synthetic_dataset.py'),
                          run_name='make_synthetic_dataset')['main']


SMALL = ['--num-train', '24', '--num-val', '6', '--size', '64']


def test_tool_writes_deterministic_voc_layout(repo_root, tmp_path, monkeypatch, capsys):
    first, second = tmp_path / 'a', tmp_path / 'b'
    # once as a user runs it (exit status, imports from a fresh checkout) ...
    result = subprocess.run(
        [sys.executable, osp.join('tools', 'make_synthetic_dataset.py'), '--out', str(first),
         *SMALL], capture_output=True, text=True, cwd=repo_root, timeout=120)
    assert result.returncode == 0, result.stderr
    # ... and once in-process: the same seed must give byte-identical files
    main = _tool_main(repo_root)
    monkeypatch.setattr(sys, 'argv', ['x', '--out', str(second), *SMALL])
    assert main() == 0
    for sub in ('JPEGImages', 'SegmentationClass', 'SegmentationObject'):
        names = sorted(os.listdir(first / sub))
        assert len(names) == 30 and names == sorted(os.listdir(second / sub))
        for name in names:
            assert (first / sub / name).read_bytes() == (second / sub / name).read_bytes()
    assert (first / 'cls_labels.json').read_bytes() == (second / 'cls_labels.json').read_bytes()
    assert (first / 'ImageSets/Segmentation/train.txt').read_text().split() == \
        [f'train_{index:04d}' for index in range(24)]
    cls_labels = json.loads((first / 'cls_labels.json').read_text())
    classes = json.loads((first / 'classes.json').read_text())
    assert classes['classes'] == list(SHAPE_CLASSES) and len(classes['palette']) == 6
    repeated = 0
    for image_id, class_ids in cls_labels.items():
        label = read_label_png(str(first / 'SegmentationClass' / f'{image_id}.png'),
                               num_classes=6)
        assert class_ids == present_class_ids(label) and class_ids
        instance = read_label_png(str(first / 'SegmentationObject' / f'{image_id}.png'))
        instance_classes = [int(np.bincount(label[instance == value]).argmax())
                            for value in np.unique(instance) if value > 0]
        repeated += len(instance_classes) > len(set(instance_classes))
    assert repeated > 0, 'no image with two visible instances of one class'

    # a rerun skips everything; other settings into the same directory are refused
    capsys.readouterr()
    assert main() == 0
    assert '0 written, 30 already done' in capsys.readouterr().out
    monkeypatch.setattr(sys, 'argv', ['x', '--out', str(second), *SMALL, '--seed', '1'])
    with pytest.raises(SamWsssError, match='other settings'):
        main()
