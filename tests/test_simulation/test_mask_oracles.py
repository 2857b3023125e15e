"""Non-SAM mask sources on hand-made label maps: the oracle gives exactly the GT components,
the imperfect oracle is seeded and makes the parts/merges/stuff it is told to, superpixels
partition the image. None of these masks are SAM output."""
import numpy as np
import pytest
from scipy import ndimage

from mmseg_sam_wsss.simulation.mask_oracles import (IMPERFECT_ORACLE_SOURCE, ORACLE_SOURCE,
                                                   ImperfectOracleMasks, OracleMasks,
                                                   fill_ignore, gt_components, voronoi_split)
from mmseg_sam_wsss.simulation.superpixels import SuperpixelMasks, segments_to_runs
from mmseg_sam_wsss.core.mask_store import MaskSet
from mmseg_sam_wsss.core.rle import masks_to_runs
from mmseg_sam_wsss.errors import SamWsssError

NO_NOISE = dict(boundary_shift=0.0, stuff_bleed=0.0, wobble_amplitude=0.0)


def scene() -> np.ndarray:
    """40x48: class 1 twice (one touching a class-2 square), class 3 diagonal pair, bg."""
    label = np.zeros((40, 48), np.uint8)
    label[2:14, 2:16] = 1      # object A (class 1), touches B
    label[2:14, 16:30] = 2     # object B (class 2)
    label[24:36, 30:44] = 1    # object C (class 1), far from the others
    label[30, 5] = 3           # two diagonal pixels: one 8-connected component of class 3
    label[31, 6] = 3
    return label


def as_set(masks: np.ndarray) -> set:
    return {mask.tobytes() for mask in masks}


def test_oracle_gives_exactly_the_components():
    label = scene()
    mask_set = OracleMasks().generate(label)
    assert mask_set.source == ORACLE_SOURCE and 'not SAM' in mask_set.source
    masks = mask_set.decode()
    expected = [label == 2, label == 3, np.zeros_like(label, bool), np.zeros_like(label, bool)]
    expected[2][2:14, 2:16] = True
    expected[3][24:36, 30:44] = True
    assert as_set(masks) == as_set(np.stack(expected + [label == 0]))
    assert len(masks) == 5  # A, C, B, the diagonal pair (8-connected), background
    foreground = OracleMasks(background_masks=False).generate(label).decode()
    assert as_set(foreground) == as_set(np.stack(expected))
    assert np.isnan(mask_set.predicted_iou).all()
    assert mask_set.settings == dict(background_masks=True, fill_ignore=True, min_area=1)
    small_dropped = OracleMasks(min_area=3).generate(label).decode()
    assert as_set(small_dropped) == as_set(np.stack(expected[:1] + expected[2:] + [label == 0]))


def test_ignore_pixels_go_to_the_nearest_class_or_to_no_mask():
    label = np.zeros((10, 12), np.uint8)
    label[2:8, 2:6] = 4
    label[2:8, 6] = 255  # a band right of the object, nearer to class 4 on its left column
    label[2:8, 7:9] = 255
    filled = fill_ignore(label)
    assert not (filled == 255).any()
    assert (filled[2:8, 6] == 4).all() and (filled[2:8, 8] == 0).all()
    tiled = OracleMasks().generate(label).decode()
    assert (tiled.sum(0) == 1).all()  # filled: the components tile the image
    holes = OracleMasks(fill_ignore=False).generate(label).decode()
    assert (holes.sum(0)[label == 255] == 0).all() and (holes.sum(0)[label != 255] == 1).all()
    assert len(gt_components(np.full((3, 3), 255, np.uint8))[0]) == 0


def test_imperfect_oracle_is_seeded_per_image():
    label = scene()
    oracle = ImperfectOracleMasks(seed=3, part_prob=0.5, merge_prob=0.5, min_part_area=10,
                                  min_area=1)
    first, kinds = oracle.simulate(label, 'img_a')
    again, kinds_again = ImperfectOracleMasks(seed=3, part_prob=0.5, merge_prob=0.5,
                                              min_part_area=10, min_area=1).simulate(label,
                                                                                     'img_a')
    assert kinds == kinds_again and np.array_equal(first, again)
    others = [oracle.simulate(label, 'img_b')[0]]
    others += [ImperfectOracleMasks(seed=seed, part_prob=0.5, merge_prob=0.5, min_part_area=10,
                                    min_area=1).simulate(label, 'img_a')[0]
               for seed in (4, 5)]
    assert all(other.shape != first.shape or not np.array_equal(other, first)
               for other in others)
    mask_set = oracle.generate(label, 'img_a')
    assert mask_set.source == IMPERFECT_ORACLE_SOURCE and 'not SAM' in mask_set.source
    assert np.array_equal(mask_set.decode(), first)
    assert sum(mask_set.settings['kind_counts'].values()) == len(first)
    assert mask_set.settings['seed'] == 3


def test_imperfect_oracle_keeps_masks_in_the_image_and_near_the_objects():
    label = scene()
    corner = np.zeros(label.shape, bool)
    corner[0:6, 40:48] = True
    label[corner] = 2  # an object in the image corner: the noise must not wrap around
    components, _ = gt_components(label, include_background=False, min_area=16)
    for seed in range(6):
        masks, kinds = ImperfectOracleMasks(seed=seed, miss_prob=0.0, part_prob=0.0,
                                            merge_prob=0.0).simulate(label, 'x')
        assert masks.shape[1:] == label.shape and masks.any((1, 2)).all()
        wholes = masks[[kind == 'whole' for kind in kinds]]
        assert len(wholes) == len(components)
        for whole in wholes:
            iou = [(whole & c).sum() / (whole | c).sum() for c in components]
            best = components[int(np.argmax(iou))]
            assert max(iou) > 0.4
            # every changed pixel lies within shift + 4 std of wobble of the true border
            distance = ndimage.distance_transform_edt(~best) + ndimage.distance_transform_edt(best)
            assert distance[whole ^ best].max(initial=0) <= 2.0 + 4 * 1.5 + 1
        in_corner = wholes[int(np.argmax([(whole & corner).sum() for whole in wholes]))]
        assert not in_corner[:, :20].any() and not in_corner[20:].any()  # nothing wrapped
    noisy = ImperfectOracleMasks(seed=0).simulate(label, 'x')[0]
    assert not as_set(noisy) <= as_set(gt_components(label)[0])  # the borders did move


def test_imperfect_oracle_makes_parts_merges_and_stuff_as_configured():
    label = scene()
    objects, classes = gt_components(label, include_background=False, min_area=2)
    everything = ImperfectOracleMasks(part_prob=1.0, keep_whole_prob=1.0, merge_prob=1.0,
                                      miss_prob=0.0, min_part_area=10, min_area=2,
                                      max_stuff_pieces=3, **NO_NOISE)
    masks, kinds = everything.simulate(label, 'img')
    kinds = np.array(kinds)
    # Whole masks: exactly the objects (keep_whole_prob=1), each split into 2..3 parts.
    assert as_set(masks[kinds == 'whole']) == as_set(objects)
    parts = masks[kinds == 'part']
    big = [obj for obj in objects if obj.sum() >= 20]
    assert 2 * len(big) <= len(parts) <= 3 * len(big)
    for obj in big:
        mine = [part for part in parts if (part & obj).any()]
        assert all(not (part & ~obj).any() for part in mine)          # within the object
        assert np.array_equal(np.logical_or.reduce(mine), obj)         # covering it
        assert np.stack(mine).sum(0).max() == 1                         # disjoint
    # The one touching pair of different classes (A: class 1, B: class 2) is merged.
    merged = masks[kinds == 'merged']
    assert len(merged) == 1
    assert np.array_equal(merged[0], (label == 2) | ((label == 1) & (np.arange(48) < 16)))
    # Stuff masks lie in the background (no bleed here) and cover it; the background is 78%
    # of the image, so stuff_piece_fraction=0.25 splits it into (at least, at most) 3 pieces.
    stuff = masks[kinds == 'stuff']
    assert not (stuff.any(0) & (label != 0)).any()
    whole_background = [mask for mask in stuff if np.array_equal(mask, label == 0)]
    assert len(whole_background) <= 1 and len(stuff) - len(whole_background) == 3
    assert np.array_equal(stuff.any(0), label == 0)
    # Nothing optional: equals the perfect oracle with the same min_area.
    plain, plain_kinds = ImperfectOracleMasks(part_prob=0.0, merge_prob=0.0, miss_prob=0.0,
                                              max_stuff_pieces=1, min_area=2,
                                              **NO_NOISE).simulate(label, 'img')
    assert set(plain_kinds) == {'whole', 'stuff'}
    assert as_set(plain) == as_set(OracleMasks(min_area=2).generate(label).decode())
    missed, missed_kinds = ImperfectOracleMasks(miss_prob=1.0, merge_prob=0.0, min_area=2,
                                                background_masks=False,
                                                **NO_NOISE).simulate(label, 'img')
    assert len(missed) == 0 and missed_kinds == []
    assert classes.tolist() == [1, 1, 2, 3]


def test_voronoi_split_partitions_the_mask():
    mask = np.zeros((30, 30), bool)
    mask[5:25, 3:28] = True
    cells = voronoi_split(mask, 3, np.random.default_rng(0))
    assert len(cells) == 3 and all(cell.sum() > 0.1 * mask.sum() for cell in cells)
    assert np.array_equal(np.sum(cells, 0), mask.astype(int))


@pytest.mark.parametrize('method', ['felzenszwalb', 'slic'])
def test_superpixels_partition_the_image(method):
    rng = np.random.default_rng(0)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :32] = (200, 30, 30)
    image[:, 32:] = (30, 30, 200)
    image = np.clip(image + rng.integers(-10, 10, image.shape), 0, 255).astype(np.uint8)
    source = SuperpixelMasks(method, scale=100, min_size=20, n_segments=12)
    mask_set = source.generate(image)
    masks = mask_set.decode()
    assert mask_set.source == f'superpixel-{method} (not SAM)'
    assert len(masks) >= 2 and (masks.sum(0) == 1).all()
    # superpixels follow the colour edge (SLIC's connectivity clean-up may leave a sliver)
    left_share = masks[:, :, :32].sum((1, 2)) / masks.sum((1, 2))
    assert np.all((left_share >= 0.85) | (left_share <= 0.15))
    assert np.array_equal(source.generate(image).decode(), masks)
    assert mask_set.settings['method'] == method
    # the runs built from the label map equal those of the decoded masks
    reference = MaskSet.from_masks(masks, 'reference')
    assert np.array_equal(mask_set.runs, reference.runs)
    assert np.array_equal(mask_set.run_offsets, reference.run_offsets)
    assert np.array_equal(mask_set.bboxes, reference.bboxes)


def test_segments_to_runs_matches_masks_to_runs():
    rng = np.random.default_rng(1)
    segment_ids = rng.integers(0, 5, (7, 9))
    segment_ids[segment_ids == 3] = 0  # ids 0..4 with 3 empty
    runs, offsets = segments_to_runs(segment_ids)
    expected = masks_to_runs(segment_ids[None] == np.arange(5)[:, None, None])
    assert np.array_equal(runs, expected[0]) and np.array_equal(offsets, expected[1])


def test_bad_settings_and_inputs_raise_one_clear_error():
    with pytest.raises(SamWsssError, match='part_prob'):
        ImperfectOracleMasks(part_prob=1.5)
    with pytest.raises(SamWsssError, match='max_parts'):
        ImperfectOracleMasks(max_parts=1)
    with pytest.raises(SamWsssError, match='unknown'):
        SuperpixelMasks('watershed')
    with pytest.raises(SamWsssError, match=r'\(H, W\)'):
        OracleMasks().generate(np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(SamWsssError, match='RGB'):
        SuperpixelMasks().generate(np.zeros((8, 8), np.uint8))
