"""Label colouring, mask overlays and picture grids."""
import os

import numpy as np
import pytest
from PIL import Image

from mmseg_sam_wsss.core.io import VOC_PALETTE
from mmseg_sam_wsss.visualization.drawing import (colorize_label, mask_colors, overlay_masks,
                                           render_grid)
from mmseg_sam_wsss.errors import SamWsssError


def test_colorize_label_uses_palette_and_white_ignore():
    label = np.array([[0, 1], [15, 255]], dtype=np.uint8)
    rgb = colorize_label(label)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[0, 1].tolist() == [128, 0, 0]  # VOC aeroplane
    assert rgb[1, 0].tolist() == VOC_PALETTE[15].tolist()  # person
    assert rgb[1, 1].tolist() == [255, 255, 255]
    with pytest.raises(SamWsssError, match='integers'):
        colorize_label(np.zeros((2, 2), np.float32))


def test_overlay_masks_blends_and_keeps_small_masks_on_top():
    image = np.full((4, 4, 3), 100, dtype=np.uint8)
    big = np.zeros((4, 4), bool)
    big[:, :3] = True
    small = np.zeros((4, 4), bool)
    small[0, 0] = True
    out = overlay_masks(image, np.stack([small, big]), alpha=0.5, seed=3)
    colors = mask_colors(2, seed=3).astype(np.float32)
    expected_big = np.clip(0.5 * 100 + 0.5 * colors[1], 0, 255).astype(np.uint8)
    expected_small = np.clip(0.5 * 100 + 0.5 * colors[0], 0, 255).astype(np.uint8)
    assert out[3, 1].tolist() == expected_big.tolist()
    assert out[0, 0].tolist() == expected_small.tolist()  # small painted after big
    assert out[0, 3].tolist() == [50, 50, 50]  # under no mask: dimmed image
    with pytest.raises(SamWsssError, match='another image size'):
        overlay_masks(image, np.zeros((1, 3, 4), bool))


def test_render_grid_writes_a_png_per_panel_row(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (30, 40, 3)).astype(np.uint8)
    label = np.zeros((30, 40), np.uint8)
    label[5:20, 5:30] = 12
    label[0, :] = 255
    one = render_grid([('image', image)], str(tmp_path / 'one.png'))
    three = render_grid([('image', image), ('label', label), ('gt', label)],
                        str(tmp_path / 'sub' / 'three.png'),
                        class_names=[str(i) for i in range(21)], title='id')
    with Image.open(one) as first, Image.open(three) as second:
        assert first.format == second.format == 'PNG'
        assert second.width > 2.5 * first.width
        pixels = np.asarray(second.convert('RGB'))
    # the dog colour of the label panels is drawn
    assert (pixels == VOC_PALETTE[12]).all(axis=-1).sum() > 100
    assert sorted(os.listdir(tmp_path / 'sub')) == ['three.png']  # no temp files left
    with pytest.raises(SamWsssError, match='panel'):
        render_grid([('bad', np.zeros((2, 2, 4), np.uint8))], str(tmp_path / 'bad.png'))
