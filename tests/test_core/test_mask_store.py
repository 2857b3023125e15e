"""The compact mask store: RLE round trips, amg.py import/export, corruption errors."""
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from mmseg_sam_wsss.core.mask_store import (AMG_HEADER, MaskSet, MaskStore, decode_mask_set,
                                            encode_mask_set, open_mask_source, read_amg_folder,
                                            write_amg_folder)
from mmseg_sam_wsss.core.rle import masks_to_runs, runs_to_masks
from mmseg_sam_wsss.errors import SamWsssError


def random_masks(num_masks=6, height=9, width=7, seed=0):
    rng = np.random.default_rng(seed)
    masks = rng.random((num_masks, height, width)) > 0.6
    masks[0] = False  # empty
    masks[1] = True  # full
    masks[2] = False
    masks[2, 3:5, 2:6] = True  # a box: (x, y, w, h) = (2, 3, 4, 2)
    return masks


def test_runs_match_pycocotools():
    masks = random_masks()
    mask_set = MaskSet.from_masks(masks, 'synthetic')
    for index, rle in enumerate(mask_set.rles):
        expected = coco_mask.encode(np.asfortranarray(masks[index].astype(np.uint8)))
        assert rle['counts'] == expected['counts']
        assert rle['size'] == [9, 7]
    np.testing.assert_array_equal(mask_set.decode(), masks)
    np.testing.assert_array_equal(mask_set.decode([4, 2]), masks[[4, 2]])
    np.testing.assert_array_equal(mask_set.areas, masks.sum((1, 2)))
    np.testing.assert_array_equal(mask_set.bboxes[0], [0, 0, 0, 0])
    np.testing.assert_array_equal(mask_set.bboxes[1], [0, 0, 7, 9])
    np.testing.assert_array_equal(mask_set.bboxes[2], [2, 3, 4, 2])
    expected_boxes = coco_mask.toBbox(mask_set.rles)
    np.testing.assert_array_equal(mask_set.bboxes, expected_boxes)
    assert np.isnan(mask_set.predicted_iou).all() and mask_set.point_coords.shape == (6, 2)
    rebuilt = MaskSet.from_rles(mask_set.rles, 'synthetic')
    np.testing.assert_array_equal(rebuilt.runs, mask_set.runs)


def test_runs_to_masks_round_trip_many_shapes():
    for seed, shape in enumerate([(1, 1, 1), (3, 1, 5), (4, 6, 1), (5, 13, 11)]):
        masks = np.random.default_rng(seed).random(shape) > 0.5
        runs, offsets = masks_to_runs(masks)
        np.testing.assert_array_equal(runs_to_masks(runs, offsets, *shape[1:]), masks)


def test_store_round_trip(tmp_path):
    masks = random_masks()
    mask_set = MaskSet.from_masks(masks, 'oracle', {'k': 1}, predicted_iou=np.arange(6) / 10,
                                  point_coords=np.ones((6, 2)))
    store = MaskStore(str(tmp_path / 'store'), create=True, source='oracle', settings={'k': 1})
    assert not store.has('a')
    store.write('a', mask_set)
    again = MaskStore(str(tmp_path / 'store'))
    assert again.source == 'oracle' and again.settings == {'k': 1} and again.ids() == ['a']
    loaded = again.read('a')
    np.testing.assert_array_equal(loaded.decode(), masks)
    np.testing.assert_allclose(loaded.predicted_iou, np.arange(6) / 10, rtol=1e-6)
    assert np.isnan(loaded.stability_score).all()
    assert loaded.source == 'oracle' and loaded.settings == {'k': 1}
    empty = MaskSet.from_masks(np.zeros((0, 4, 5), bool), 'oracle')
    store.write('empty', empty)
    assert len(store.read('empty')) == 0 and store.read('empty').decode().shape == (0, 4, 5)
    with pytest.raises(SamWsssError, match='holds source'):
        MaskStore(str(tmp_path / 'store'), create=True, source='sam')


def test_corrupt_files_raise_naming_the_file(tmp_path):
    store = MaskStore(str(tmp_path), create=True, source='oracle')
    store.write('a', MaskSet.from_masks(random_masks(), 'oracle'))
    data = bytearray(open(store.path('a'), 'rb').read())
    for broken in (bytes(data[:20]), b'PNG' + bytes(data[3:]),
                   bytes(data[:-5]) + b'xxxxx'):
        with open(store.path('b'), 'wb') as handle:
            handle.write(broken)
        with pytest.raises(SamWsssError, match='b.samm'):
            store.read('b')
    with pytest.raises(SamWsssError, match='missing.samm'):
        store.read('missing')
    with pytest.raises(SamWsssError, match='not a mask store'):
        MaskStore(str(tmp_path / 'nothing'))
    # Runs that do not add up to H*W are refused even with a valid checksum.
    bad = MaskSet.from_masks(random_masks(), 'oracle')
    bad.runs = bad.runs.copy()
    bad.runs[0] += 1
    with pytest.raises(SamWsssError, match='do not add up'):
        decode_mask_set(encode_mask_set(bad), 'x.samm')


def test_amg_folder_round_trip_and_layout(tmp_path):
    masks = random_masks()
    mask_set = MaskSet.from_masks(masks, 'sam', predicted_iou=np.linspace(0.5, 1, 6),
                                  stability_score=np.linspace(0.9, 1, 6),
                                  point_coords=np.arange(12).reshape(6, 2))
    write_amg_folder(str(tmp_path), 'img1', mask_set)
    folder = tmp_path / 'img1'
    assert sorted(os.listdir(folder)) == sorted([f'{k}.png' for k in range(6)] + ['metadata.csv'])
    png = np.asarray(Image.open(folder / '2.png'))
    assert png.dtype == np.uint8 and set(np.unique(png)) == {0, 255}
    lines = (folder / 'metadata.csv').read_text().splitlines()
    assert lines[0] == AMG_HEADER and len(lines) == 7
    # SAM's integer XYWH (width = x1 - x0): the COCO box (2, 3, 4, 2) of mask 2 is one narrower
    assert lines[3].split(',')[:6] == ['2', '8', '2', '3', '3', '1']
    loaded = read_amg_folder(str(tmp_path), 'img1')
    np.testing.assert_array_equal(loaded.decode(), masks)
    np.testing.assert_allclose(loaded.predicted_iou, mask_set.predicted_iou, rtol=1e-6)
    np.testing.assert_allclose(loaded.point_coords, mask_set.point_coords)
    reader = open_mask_source(str(tmp_path))
    assert reader.kind == 'amg' and len(reader('img1')) == 6


def test_amg_folder_errors(tmp_path):
    with pytest.raises(SamWsssError, match='mask folder not found'):
        read_amg_folder(str(tmp_path), 'nope')
    write_amg_folder(str(tmp_path), 'img', MaskSet.from_masks(random_masks(), 'sam'))
    (tmp_path / 'img' / '3.png').write_bytes(b'not a png')
    with pytest.raises(SamWsssError, match=r'3\.png'):
        read_amg_folder(str(tmp_path), 'img')
    os.remove(tmp_path / 'img' / '3.png')
    with pytest.raises(SamWsssError, match='0.png..N-1.png'):
        read_amg_folder(str(tmp_path), 'img')
    with pytest.raises(SamWsssError, match='mask source not found'):
        open_mask_source(osp.join(str(tmp_path), 'absent'))
