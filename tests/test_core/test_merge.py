"""SEPL merge: hand-made cases with known answers, and the fast path against a plain loop."""
import numpy as np
import pytest

from mmseg_sam_wsss.core.mask_store import MaskSet
from mmseg_sam_wsss.core.merge import (MERGE_RULE_RANGES, MERGE_RULES, enhance_pseudo_label,
                                       register_merge_rule)
from mmseg_sam_wsss.errors import SamWsssError


def reference_sepl(pseudo_label, masks, keep_ignore=False, majority_ratio=0.5,
                   coverage_ratio=0.85):
    """The rule written as a plain loop over classes and masks with full boolean ops."""
    out = np.zeros_like(pseudo_label)
    taken = [False] * len(masks)
    for class_id in range(1, 255):
        class_mask = pseudo_label == class_id
        if not class_mask.any():
            continue
        free_union = np.zeros(pseudo_label.shape, bool)
        selected = []
        for index, mask in enumerate(masks):
            if taken[index]:
                continue
            free_union |= mask
            overlap = (mask & class_mask).sum()
            if overlap > majority_ratio * mask.sum() or overlap >= coverage_ratio * class_mask.sum():
                selected.append(index)
        paint = class_mask & ~free_union
        for index in selected:
            paint |= masks[index]
            taken[index] = True
        out[paint] = class_id
    if keep_ignore:
        out[(out == 0) & (pseudo_label == 255)] = 255
    return out


def box(shape, y0, y1, x0, x1):
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_majority_selection_cam_fallback_and_background():
    label = np.zeros((6, 8), np.uint8)
    label[1:5, 1:4] = 1  # class 1 blob, 12 px
    masks = np.stack([box(label.shape, 0, 5, 0, 4),  # 20 px, 12 in class 1 -> selected
                      box(label.shape, 4, 6, 5, 8)])  # background mask, not selected
    out = enhance_pseudo_label(label, masks)
    np.testing.assert_array_equal(out, masks[0].astype(np.uint8))
    # CAM fallback: class-1 pixels not covered by any mask keep class 1.
    label[5, 0] = 1
    out = enhance_pseudo_label(label, masks)
    assert out[5, 0] == 1 and out[0, 0] == 1 and out[5, 6] == 0


def test_cam_pixels_under_an_unselected_mask_become_background():
    label = np.zeros((4, 10), np.uint8)
    label[:, 0:2] = 1  # 8 px of class 1
    big = box(label.shape, 0, 3, 0, 10)  # 30 px: 6 overlap, not > 15 nor >= 0.85 * 8
    small = box(label.shape, 0, 4, 8, 10)  # far from class 1
    out = enhance_pseudo_label(label, np.stack([big, small]))
    assert not out[0:3].any()  # under the unselected mask: background
    assert (out[3, 0:2] == 1).all() and not out[3, 2:].any()  # no mask there: CAM kept


def test_coverage_branch_selects_a_big_mask():
    label = np.zeros((10, 10), np.uint8)
    label[0:2, 0:10] = 1  # 20 px
    big = box(label.shape, 0, 10, 0, 10)  # 100 px; covers 100% of class 1 -> >= 0.85
    out = enhance_pseudo_label(label, big[None])
    assert (out == 1).all()
    out = enhance_pseudo_label(label, big[None], coverage_ratio=1.01)
    assert not out.any()
    # 17/20 = 0.85 exactly still selects; 16/20 does not.
    cut = big.copy()
    cut[0, 0:3] = False
    assert (enhance_pseudo_label(label, cut[None]) == 1).all()  # cut pixels: CAM fallback
    cut[0, 3] = False
    np.testing.assert_array_equal(enhance_pseudo_label(label, cut[None]),
                                  (~cut & (label == 1)).astype(np.uint8))


def test_mask_taken_by_earlier_class_and_overwrite_order():
    label = np.zeros((4, 12), np.uint8)
    label[:, 0:4] = 1
    label[:, 4:6] = 2
    shared = box(label.shape, 0, 4, 0, 6)  # 16 of 24 px in class 1 -> taken by class 1
    # For class 2 the shared mask would pass the coverage branch (8/8) and, painted later,
    # overwrite class 1; but it is taken, so class 2 keeps only its CAM pixels (U is empty).
    out = enhance_pseudo_label(label, shared[None])
    assert (out[:, 0:4] == 1).all() and (out[:, 4:6] == 2).all() and not out[:, 6:].any()
    # A class-2 mask overlapping class 1's mask: class 2 paints later and wins the overlap.
    label2 = np.zeros((4, 12), np.uint8)
    label2[:, 0:4] = 1
    label2[:, 6:10] = 2
    mask_1 = box(label2.shape, 0, 4, 0, 5)
    mask_2 = box(label2.shape, 0, 4, 4, 10)
    out = enhance_pseudo_label(label2, np.stack([mask_1, mask_2]))
    assert (out[:, 0:4] == 1).all() and (out[:, 4:10] == 2).all() and not out[:, 10:].any()


def test_ignore_handling():
    label = np.full((4, 6), 255, np.uint8)
    label[:, 0:2] = 3
    mask = box(label.shape, 0, 4, 0, 3)  # 8 of 12 in class 3 -> selected, covers some 255
    out = enhance_pseudo_label(label, mask[None])
    assert (out[:, 0:3] == 3).all() and (out[:, 3:] == 0).all()
    out = enhance_pseudo_label(label, mask[None], keep_ignore=True)
    assert (out[:, 0:3] == 3).all() and (out[:, 3:] == 255).all()


def random_case(seed, num_masks=25, shape=(23, 31)):
    rng = np.random.default_rng(seed)
    label = np.zeros(shape, np.uint8)
    for class_id in rng.choice(np.arange(1, 21), 3, replace=False):
        y, x = rng.integers(0, shape[0] - 4), rng.integers(0, shape[1] - 4)
        label[y:y + rng.integers(3, 12), x:x + rng.integers(3, 15)] = class_id
    label[rng.random(shape) < 0.05] = 255
    masks = np.stack([box(shape, *sorted(rng.integers(0, shape[0], 2)),
                          *sorted(rng.integers(0, shape[1], 2))) for _ in range(num_masks)])
    masks[0] = label > 0  # one mask touching several classes
    masks[1] = False
    return label, masks


@pytest.mark.parametrize('seed', range(6))
def test_matches_reference_and_is_order_independent(seed):
    label, masks = random_case(seed)
    for keep_ignore in (False, True):
        expected = reference_sepl(label, masks, keep_ignore)
        out = enhance_pseudo_label(label, masks, keep_ignore=keep_ignore)
        np.testing.assert_array_equal(out, expected)
        permuted = masks[np.random.default_rng(seed + 100).permutation(len(masks))]
        np.testing.assert_array_equal(enhance_pseudo_label(label, permuted,
                                                           keep_ignore=keep_ignore), expected)
    via_mask_set = enhance_pseudo_label(label, MaskSet.from_masks(masks, 'synthetic'))
    np.testing.assert_array_equal(via_mask_set, reference_sepl(label, masks))


def test_max_iou_rule_has_no_cam_fallback():
    label = np.zeros((4, 10), np.uint8)
    label[:, 0:3] = 1
    label[:, 8:10] = 2  # no mask covers class 2
    mask = box(label.shape, 0, 4, 0, 4)
    out = enhance_pseudo_label(label, mask[None], rule='max_iou')
    assert (out[:, 0:4] == 1).all() and not out[:, 4:].any()
    assert (enhance_pseudo_label(label, mask[None])[:, 8:10] == 2).all()  # sepl falls back


def test_no_masks_and_empty_label():
    label = np.zeros((5, 5), np.uint8)
    label[1:3, 1:3] = 4
    out = enhance_pseudo_label(label, np.zeros((0, 5, 5), bool))
    np.testing.assert_array_equal(out, label)
    assert not enhance_pseudo_label(np.zeros((5, 5), np.uint8), box((5, 5), 0, 2, 0, 2)[None]).any()


def test_bad_input_errors():
    label = np.zeros((4, 4), np.uint8)
    with pytest.raises(SamWsssError, match='a.png.*4x4.*masks are 5x4'):
        enhance_pseudo_label(label, np.zeros((2, 5, 4), bool), name='a.png')
    label[0, 0] = 30
    with pytest.raises(SamWsssError, match=r'b.png: label values \[30\]'):
        enhance_pseudo_label(label, np.zeros((1, 4, 4), bool), name='b.png')
    with pytest.raises(SamWsssError, match='unknown merge rule'):
        enhance_pseudo_label(label, np.zeros((1, 4, 4), bool), rule='nope')


def test_register_merge_rule():
    @register_merge_rule('_test_everything_class_one')
    def paint_all(inputs):
        return np.ones(inputs.label_flat.size, np.uint8)

    try:
        out = enhance_pseudo_label(np.zeros((2, 3), np.uint8), np.zeros((1, 2, 3), bool),
                                   rule='_test_everything_class_one')
        assert (out == 1).all()
        with pytest.raises(KeyError):
            register_merge_rule('sepl')(paint_all)
    finally:
        MERGE_RULES.pop('_test_everything_class_one')
        MERGE_RULE_RANGES.pop('_test_everything_class_one', None)


def test_sesam_coverage_rule_picks_each_components_best_mask():
    weak = np.full((6, 12), 255, np.uint8)
    weak[2, 1], weak[2, 7], weak[5, 11] = 1, 2, 0  # one point per object, one on background
    object_1, object_2 = box(weak.shape, 1, 4, 0, 3), box(weak.shape, 1, 4, 6, 9)
    both = box(weak.shape, 1, 4, 0, 9)             # covers both points: penalised (1/2 other)
    everything = np.ones(weak.shape, bool)         # wins only the background point
    masks = np.stack([both, everything, object_1, object_2])
    out = enhance_pseudo_label(weak, masks, rule='sesam_coverage')
    expected = np.zeros(weak.shape, np.uint8)
    expected[object_1], expected[object_2] = 1, 2
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(
        enhance_pseudo_label(weak, masks[::-1], rule='sesam_coverage'), expected)
    # Without its own mask a component keeps only its labelled pixels: the big mask scores
    # 1 - 1/2 (it covers the other class's point), not above min_score=0.5.
    out = enhance_pseudo_label(weak, np.stack([both, everything]), rule='sesam_coverage',
                               min_score=0.5, keep_ignore=True)
    assert out[2, 1] == 1 and out[2, 7] == 2 and (out == 1).sum() == 1 and (out == 2).sum() == 1


@pytest.mark.parametrize('seed', range(3))
def test_sesam_coverage_rule_is_order_independent(seed):
    label, masks = random_case(seed)
    expected = enhance_pseudo_label(label, masks, rule='sesam_coverage')
    labelled = label != 255
    np.testing.assert_array_equal(expected[labelled], label[labelled])
    permuted = masks[np.random.default_rng(seed).permutation(len(masks))]
    np.testing.assert_array_equal(enhance_pseudo_label(label, permuted, rule='sesam_coverage'),
                                  expected)


def test_unknown_rule_option_names_the_rules_options():
    with pytest.raises(SamWsssError, match=r"rule 'sesam_coverage' has no option coverage_ratio"
                       r".*penalty.*min_score"):
        enhance_pseudo_label(np.zeros((2, 2), np.uint8), np.zeros((1, 2, 2), bool),
                             rule='sesam_coverage', coverage_ratio=0.5)


def test_sesam_coverage_keep_ignore_keeps_the_painted_background():
    weak = np.full((6, 12), 255, np.uint8)
    weak[2, 1], weak[4, 10] = 1, 0  # one object click, one background click
    masks = np.stack([box(weak.shape, 0, 6, 0, 4), box(weak.shape, 0, 6, 4, 12)])
    out = enhance_pseudo_label(weak, masks, rule='sesam_coverage', keep_ignore=True)
    assert (out[:, :4] == 1).all() and (out[:, 4:] == 0).all()  # background painted, kept
    nothing = enhance_pseudo_label(weak, masks[:1], rule='sesam_coverage', keep_ignore=True)
    assert (nothing[:, 4:] == 255).sum() == 6 * 8 - 1 and nothing[4, 10] == 0
    assert (enhance_pseudo_label(weak, masks[:1], rule='sesam_coverage')[:, 4:] == 0).all()


def test_sesam_coverage_granularity_for_a_click():
    weak = np.full((8, 12), 255, np.uint8)
    weak[3, 2] = 1   # a click on the object
    weak[6, 10] = 0  # a background click
    part = box(weak.shape, 2, 5, 1, 4)
    whole = box(weak.shape, 1, 7, 0, 7)
    with_background = box(weak.shape, 0, 8, 0, 12)  # holds the background click: penalised
    masks = np.stack([part, whole, with_background])
    out = enhance_pseudo_label(weak, masks, rule='sesam_coverage', keep_ignore=True,
                               tie_break='quality-larger')
    assert (out[whole] == 1).all() and (out[~whole] == 0).all()  # the largest clean mask
    smaller = enhance_pseudo_label(weak, masks, rule='sesam_coverage', keep_ignore=True,
                                   tie_break='quality-smaller')
    assert (smaller[part] == 1).all() and (smaller[whole & ~part] == 0).all()
    with pytest.raises(SamWsssError, match="tie_break='larger' .*is not one of"):
        enhance_pseudo_label(weak, masks, rule='sesam_coverage', tie_break='larger')


def test_sesam_coverage_disagreeing_clicks_leave_their_mask_unlabelled():
    weak = np.full((6, 12), 255, np.uint8)
    weak[2, 2], weak[3, 5] = 8, 12  # a cat and a dog click in the one mask that holds them
    weak[5, 11] = 0
    shared = box(weak.shape, 0, 6, 0, 8)
    background = box(weak.shape, 0, 6, 8, 12)
    out = enhance_pseudo_label(weak, np.stack([shared, background]), rule='sesam_coverage',
                               keep_ignore=True)
    assert out[2, 2] == 8 and out[3, 5] == 12  # the clicks keep their labels
    assert ((out[shared] == 255).sum() == shared.sum() - 2) and (out[background] == 0).all()
    first = enhance_pseudo_label(weak, np.stack([shared, background]), rule='sesam_coverage',
                                 keep_ignore=True, tie_unlabelled=False)
    assert set(np.unique(first[shared])) == {8, 12} and (first[shared] == 8).sum() > 2
