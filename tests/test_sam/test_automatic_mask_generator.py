"""FastAutomaticMaskGenerator gives segment_anything's masks, order and metadata.

Every model here has random weights (``build_sam('tiny', random_init=True)``); ``add_point_disks``
gives its masks SAM-like geometry (local, smooth-edged, varied stability) so that the filters,
both NMS stages, crop layers and the small-region clean-up all have work to do. None of these
masks are SAM masks.
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image
from segment_anything import SamAutomaticMaskGenerator
from segment_anything.utils.amg import build_point_grid, rle_to_mask

from mmseg_sam_wsss.core.mask_store import (decode_mask_set, encode_mask_set, read_amg_folder,
                                            write_amg_folder)
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.sam.amg_utils import mask_iou_matrix
from mmseg_sam_wsss.sam.automatic_mask_generator import FastAutomaticMaskGenerator
from mmseg_sam_wsss.sam.builder import RANDOM_INIT_SOURCE, build_sam
from mmseg_sam_wsss.sam.testing import add_point_disks


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One intra-op thread: these tiny models run 10x slower on 2 threads of a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def disk_model():
    torch.manual_seed(0)
    return add_point_disks(build_sam('tiny', random_init=True))


def textured_image(seed=0, height=96, width=128):
    """Noise plus a few flat rectangles and discs (RGB uint8)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 64, (height, width, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:height, :width]
    for _ in range(6):
        y, x, size = rng.integers(0, height), rng.integers(0, width), rng.integers(6, 30)
        shape = ((yy - y) ** 2 + (xx - x) ** 2 < size ** 2) if rng.random() < 0.5 else \
            (abs(yy - y) < size) & (abs(xx - x) < size // 2)
        image[shape] = rng.integers(64, 256, 3)
    return image


def official_records(model, image, **settings):
    generator = SamAutomaticMaskGenerator(model, output_mode='uncompressed_rle', **settings)
    return generator.generate(image)


def assert_same_as_official(records, mask_set, image_shape):
    """>= 99% of the official masks found at IoU >= 0.99, in the same place, same metadata."""
    assert (mask_set.height, mask_set.width) == image_shape
    assert len(mask_set) == len(records) > 0
    official = np.stack([rle_to_mask(record['segmentation']) for record in records])
    ours = mask_set.decode()
    iou = mask_iou_matrix(official, ours)
    assert (iou.max(1) >= 0.99).mean() >= 0.99
    same_place = np.diagonal(iou) >= 0.99  # the order is SAM's
    assert same_place.mean() >= 0.99
    matched = np.nonzero(same_place)[0]
    field = {key: np.array([records[i][key] for i in matched])
             for key in ('predicted_iou', 'stability_score', 'area', 'bbox')}
    np.testing.assert_allclose(mask_set.predicted_iou[matched], field['predicted_iou'],
                               atol=1e-5)
    np.testing.assert_allclose(mask_set.stability_score[matched], field['stability_score'],
                               atol=1e-3)
    np.testing.assert_array_equal(mask_set.point_coords[matched],
                                  np.array([records[i]['point_coords'][0] for i in matched],
                                           dtype=np.float32))
    exact = np.array([np.array_equal(official[i], ours[i]) for i in matched])
    np.testing.assert_array_equal(mask_set.areas[matched][exact], field['area'][exact])
    # COCO boxes: width = x1 - x0 + 1, where SAM's records give x1 - x0.
    np.testing.assert_array_equal(mask_set.bboxes[matched][exact],
                                  field['bbox'][exact] + [0, 0, 1, 1])
    assert mask_set.predicted_iou.dtype == np.float32 and mask_set.areas.dtype == np.int64


def test_same_masks_as_segment_anything(disk_model):
    image = textured_image()
    settings = dict(points_per_side=16, pred_iou_thresh=0.0, stability_score_thresh=0.95)
    records = official_records(disk_model, image, **settings)
    mask_set = FastAutomaticMaskGenerator(disk_model, **settings).generate(image)
    assert_same_as_official(records, mask_set, image.shape[:2])
    # The filters and NMS had work to do: 768 candidates, some unstable, many duplicates.
    assert 20 < len(mask_set) < 400
    assert (mask_set.stability_score >= 0.95).all()
    assert mask_set.source == RANDOM_INIT_SOURCE and 'not SAM' in mask_set.source
    assert mask_set.settings['points_per_side'] == 16
    assert mask_set.settings['stability_score_thresh'] == 0.95
    assert mask_set.settings['model_type'] == 'tiny'
    json.dumps(mask_set.settings)
    stored = decode_mask_set(encode_mask_set(mask_set))
    np.testing.assert_array_equal(stored.runs, mask_set.runs)
    assert stored.source == mask_set.source


def test_predicted_iou_filter_and_small_batches(disk_model):
    image = textured_image(1)
    loose = FastAutomaticMaskGenerator(disk_model, points_per_side=8, pred_iou_thresh=0.0,
                                       stability_score_thresh=0.0, box_nms_thresh=1.0)
    threshold = float(np.quantile(loose.generate(image).predicted_iou, 0.85))
    assert threshold > 0, 'the random decoder must predict some positive IoUs for this test'
    settings = dict(points_per_side=8, pred_iou_thresh=threshold, stability_score_thresh=0.0)
    records = official_records(disk_model, image, **settings)
    mask_set = FastAutomaticMaskGenerator(disk_model, points_per_batch=7,
                                          **settings).generate(image)
    assert_same_as_official(records, mask_set, image.shape[:2])
    assert (mask_set.predicted_iou > threshold).all()


def test_crop_layers_and_small_region_clean_up(disk_model):
    image = textured_image(2, 112, 128)
    settings = dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.9,
                    crop_n_layers=1, min_mask_region_area=40)
    records = official_records(disk_model, image, **settings)
    generator = FastAutomaticMaskGenerator(disk_model, image_batch_size=3, **settings)
    mask_set = generator.generate(image)
    assert_same_as_official(records, mask_set, image.shape[:2])
    # Masks from the four crops survive (their prompt points lie off the 8x8 full-image grid),
    # and the clean-up changed masks.
    full_grid = set(map(tuple, build_point_grid(8) * [128, 112]))
    assert any(tuple(point) not in full_grid for point in mask_set.point_coords.tolist())
    raw = FastAutomaticMaskGenerator(disk_model, **dict(settings, min_mask_region_area=0))
    raw_set = raw.generate(image)
    assert len(raw_set) != len(mask_set) or any(
        not np.array_equal(a, b) for a, b in zip(raw_set.decode(), mask_set.decode()))


def test_batch_equals_one_image_at_a_time(disk_model):
    images = [textured_image(3), textured_image(4, 128, 80), textured_image(5, 64, 64)]
    generator = FastAutomaticMaskGenerator(disk_model, points_per_side=8, pred_iou_thresh=0.0,
                                           stability_score_thresh=0.9, image_batch_size=2)
    batch = generator.generate_batch(images)
    assert len(batch) == len(images) and generator.generate_batch([]) == []
    for image, mask_set in zip(images, batch):
        single = generator.generate(image)
        assert (mask_set.height, mask_set.width) == image.shape[:2]
        assert len(mask_set) == len(single) > 0
        iou = mask_iou_matrix(single.decode(), mask_set.decode())
        assert (np.diagonal(iou) >= 0.99).mean() >= 0.99
        np.testing.assert_allclose(mask_set.predicted_iou, single.predicted_iou, atol=1e-5)
        np.testing.assert_array_equal(mask_set.point_coords, single.point_coords)


def test_point_grids_instead_of_points_per_side(disk_model):
    image = textured_image(6)
    by_side = FastAutomaticMaskGenerator(disk_model, points_per_side=6, pred_iou_thresh=0.0)
    by_grid = FastAutomaticMaskGenerator(disk_model, points_per_side=None,
                                         point_grids=[build_point_grid(6)], pred_iou_thresh=0.0)
    expected, actual = by_side.generate(image), by_grid.generate(image)
    np.testing.assert_array_equal(actual.runs, expected.runs)
    np.testing.assert_array_equal(actual.point_coords, expected.point_coords)
    assert len(actual.settings['point_grids'][0]) == 36


def test_real_voc_image_resized(disk_model, voc_mini):
    with Image.open(osp.join(voc_mini, 'JPEGImages', '2007_000042.jpg')) as image:
        image = image.convert('RGB')
        image = np.asarray(image.resize((128, round(128 * image.height / image.width))))
    settings = dict(points_per_side=12, pred_iou_thresh=0.0, stability_score_thresh=0.9)
    records = official_records(disk_model, image, **settings)
    mask_set = FastAutomaticMaskGenerator(disk_model, **settings).generate(image)
    assert_same_as_official(records, mask_set, image.shape[:2])


def test_plain_random_model_gives_no_sam_masks_but_runs():
    torch.manual_seed(1)
    model = build_sam('tiny', random_init=True)
    image = textured_image(7)
    settings = dict(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    records = official_records(model, image, **settings)
    mask_set = FastAutomaticMaskGenerator(model, **settings).generate(image)
    assert_same_as_official(records, mask_set, image.shape[:2])
    assert 'not SAM' in mask_set.source


def test_input_errors(disk_model):
    generator = FastAutomaticMaskGenerator(disk_model, points_per_side=4)
    for bad in (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32),
                np.zeros((0, 8, 3), np.uint8), np.zeros((8, 8, 4), np.uint8)):
        with pytest.raises(SamWsssError, match='uint8 RGB'):
            generator.generate(bad)
    with pytest.raises(SamWsssError, match='amp'):
        FastAutomaticMaskGenerator(disk_model, amp='fp8')
    with pytest.raises(SamWsssError, match='exactly one'):
        FastAutomaticMaskGenerator(disk_model, point_grids=[build_point_grid(4)])
    with pytest.raises(SamWsssError, match='point_grids'):
        FastAutomaticMaskGenerator(disk_model, points_per_side=None, crop_n_layers=1,
                                   point_grids=[build_point_grid(4)])
    plain = build_sam('tiny', random_init=True)
    del plain.mask_source
    with pytest.raises(SamWsssError, match='mask_source'):
        FastAutomaticMaskGenerator(plain)
    assert FastAutomaticMaskGenerator(plain, mask_source='custom (not SAM)').mask_source == \
        'custom (not SAM)'


def write_masks_to_folder(masks, path):
    """segment-anything's ``scripts/amg.py`` writer, line for line (cv2.imwrite -> Pillow)."""
    header = 'id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h'  # noqa: E501
    metadata = [header]
    for i, mask_data in enumerate(masks):
        mask = mask_data['segmentation']
        Image.fromarray((mask * 255).astype(np.uint8)).save(osp.join(path, f'{i}.png'))
        mask_metadata = [
            str(i),
            str(mask_data['area']),
            *[str(x) for x in mask_data['bbox']],
            *[str(x) for x in mask_data['point_coords'][0]],
            str(mask_data['predicted_iou']),
            str(mask_data['stability_score']),
            *[str(x) for x in mask_data['crop_box']],
        ]
        metadata.append(','.join(mask_metadata))
    with open(osp.join(path, 'metadata.csv'), 'w') as handle:
        handle.write('\n'.join(metadata))


def test_amg_folder_round_trip_is_exact(disk_model, tmp_path):
    """An amg.py folder imported into a MaskSet and exported again holds the same metadata.csv,
    byte for byte, and the same mask pixels (random-init model with point disks, not SAM)."""
    image = textured_image(seed=3)
    records = SamAutomaticMaskGenerator(disk_model, points_per_side=8, pred_iou_thresh=0.0,
                                        stability_score_thresh=0.9).generate(image)
    assert len(records) > 3
    source = tmp_path / 'amg' / 'img'
    source.mkdir(parents=True)
    write_masks_to_folder(records, str(source))
    mask_set = read_amg_folder(str(tmp_path / 'amg'), 'img')
    write_amg_folder(str(tmp_path / 'export'), 'img', mask_set)
    exported = tmp_path / 'export' / 'img'
    assert (exported / 'metadata.csv').read_text() == (source / 'metadata.csv').read_text()
    for index in range(len(records)):
        np.testing.assert_array_equal(np.asarray(Image.open(exported / f'{index}.png')),
                                      np.asarray(Image.open(source / f'{index}.png')))
