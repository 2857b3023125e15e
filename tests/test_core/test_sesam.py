"""SeSAM steps on hand-made arrays: components, skeleton points, prompts, selection, painting."""
import numpy as np
import pytest
from skimage.morphology import skeletonize

from mmseg_sam_wsss.simulation.prompt_oracles import OraclePromptAnswerer
from mmseg_sam_wsss.core.sesam import (build_prompts, class_components, longest_skeleton_path,
                                       sample_skeleton_points, skeleton_of)
from mmseg_sam_wsss.core.sesam_select import (SeSAMLabeler, combine_class_masks, confident_label,
                                              coverage_scores, paint_pseudo_label,
                                              painting_groups, rank_candidates,
                                              select_candidate)
from mmseg_sam_wsss.errors import SamWsssError


def test_class_components_splits_classes_and_instances():
    label = np.full((10, 12), 255, np.uint8)
    label[0:3, 0:3] = 1
    label[3:5, 3:5] = 1  # touches the first blob diagonally only: same 8-connected component
    label[7:9, 0:2] = 1  # a second instance
    label[6:10, 8:12] = 2
    components = class_components(label)
    assert [class_id for class_id, _ in components] == [1, 1, 2]
    assert [int(mask.sum()) for _, mask in components] == [13, 4, 16]
    for class_id, mask in components:
        assert (label[mask] == class_id).all()
    assert len(class_components(label, min_area=5)) == 2
    with pytest.raises(SamWsssError):
        class_components(np.zeros((2, 2, 2), np.uint8))


def test_skeleton_points_lie_on_skeleton_inside_component_and_spread():
    component = np.zeros((20, 60), bool)
    component[8:13, 5:55] = True  # a horizontal bar, skeleton along row 10
    component[8:20, 50:55] = True  # with a leg down: an L
    skeleton = skeleton_of(component)
    points = sample_skeleton_points(component, 5, np.random.default_rng(0))
    assert points.shape == (5, 2) and points.dtype == np.float32
    cols, rows = points[:, 0].astype(int), points[:, 1].astype(int)
    assert skeleton[rows, cols].all() and component[rows, cols].all()
    assert (skeleton <= component).all() and np.array_equal(skeleton, skeletonize(component))
    # Evenly spread: the points are distinct and span most of the bar.
    assert len({(r, c) for r, c in zip(rows, cols)}) == 5
    assert cols.max() - cols.min() > 30


def test_skeleton_points_tiny_components():
    single = np.zeros((5, 5), bool)
    single[2, 3] = True
    np.testing.assert_array_equal(sample_skeleton_points(single, 3), [[3, 2]])
    block = np.zeros((6, 6), bool)
    block[2:4, 2:4] = True  # skeletonize may erase it: the interior pixel stands in
    points = sample_skeleton_points(block, 4)
    assert 1 <= len(points) <= 4
    assert block[points[:, 1].astype(int), points[:, 0].astype(int)].all()
    with pytest.raises(SamWsssError):
        sample_skeleton_points(np.zeros((4, 4), bool), 2)
    with pytest.raises(SamWsssError):
        sample_skeleton_points(single, 0)


def test_skeleton_points_deterministic_under_seed():
    component = np.zeros((30, 80), bool)
    component[10:20, 5:75] = True
    first = sample_skeleton_points(component, 4, np.random.default_rng(7))
    again = sample_skeleton_points(component, 4, np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)
    centred = sample_skeleton_points(component, 4)
    np.testing.assert_array_equal(centred, sample_skeleton_points(component, 4))


def test_longest_skeleton_path_is_contiguous():
    component = np.zeros((20, 40), bool)
    component[5:10, 2:38] = True
    path = longest_skeleton_path(skeleton_of(component))
    steps = np.abs(np.diff(path, axis=0)).max(1)
    assert (steps == 1).all()
    assert len(path) >= 25


def test_build_prompts_pads_and_adds_negatives():
    label = np.full((20, 40), 255, np.uint8)
    label[2:18, 2:15] = 1
    label[5, 25] = 2  # one pixel: one positive point
    prompts = build_prompts(class_components(label), points_per_component=3, negative_points=1)
    assert prompts.point_coords.shape == (2, 4, 2)
    np.testing.assert_array_equal(prompts.class_ids, [1, 2])
    assert (prompts.point_labels[0] == [1, 1, 1, 0]).all()
    assert list(prompts.point_labels[1]) == [1, 0, -1, -1]
    negative = prompts.point_coords[0, 3].astype(int)
    assert label[negative[1], negative[0]] == 2
    assert prompts.component_masks.shape == (2, 20, 40)
    assert len(prompts.slice(1, 2)) == 1
    empty = build_prompts([], shape=(4, 5))
    assert len(empty) == 0 and empty.component_masks.shape == (0, 4, 5)


def _two_class_reference():
    reference = np.full((10, 20), 255, np.uint8)
    reference[2:8, 2:8] = 1
    reference[2:8, 12:18] = 2
    return reference


def test_selection_prefers_own_coverage_without_other_classes():
    reference = _two_class_reference()
    component = reference == 1
    candidates = np.zeros((3, 10, 20), bool)
    candidates[0, 2:5, 2:5] = True  # a quarter of the component
    candidates[1, 1:9, 1:9] = True  # the whole component and unlabelled margin
    candidates[2] = True  # everything: half of the labelled pixels under it are class 2
    scores = coverage_scores(candidates, component, 1, reference)
    np.testing.assert_allclose(scores, [0.25, 1.0, 0.5])
    assert select_candidate(candidates, np.array([0.9, 0.1, 0.99]), component, 1,
                            reference) == (1, 1.0)
    # A heavier penalty makes the whole-image candidate worse than the quarter.
    heavy = coverage_scores(candidates, component, 1, reference, penalty=2.0)
    np.testing.assert_allclose(heavy, [0.25, 1.0, 0.0])


def test_selection_tie_breaks_and_min_score():
    reference = _two_class_reference()
    component = reference == 1
    candidates = np.zeros((3, 10, 20), bool)
    candidates[0, 1:9, 1:9] = True
    candidates[1, 2:8, 2:8] = True
    candidates[2, 0:10, 0:10] = True
    # Equal coverage scores: the higher SAM score wins ...
    assert select_candidate(candidates, np.array([0.5, 0.4, 0.9]), component, 1, reference,
                            tie_break='quality-smaller')[0] == 2
    # ... then the smaller (or the larger) mask.
    assert select_candidate(candidates, np.array([0.5, 0.5, 0.5]), component, 1, reference,
                            tie_break='quality-smaller')[0] == 1
    assert select_candidate(candidates, np.array([0.5, 0.5, 0.5]), component, 1, reference,
                            tie_break='quality-larger')[0] == 2
    # Area first: the larger mask wins over a better SAM score.
    assert select_candidate(candidates, np.array([0.5, 0.9, 0.4]), component, 1, reference,
                            tie_break='larger-quality')[0] == 2
    outside = np.zeros((2, 10, 20), bool)
    outside[:, 2:8, 12:18] = True  # only class-2 pixels
    best, score = select_candidate(outside, np.array([1.0, 1.0]), component, 1, reference)
    assert best == -1 and score < 0


def test_painting_resolves_overlaps_and_keeps_weak_pixels():
    weak_label = np.full((6, 6), 255, np.uint8)
    weak_label[2, 2] = 2
    masks = np.zeros((2, 6, 6), bool)
    masks[0, 0:4, 0:4] = True  # class 1, score 0.9
    masks[1, 2:6, 2:6] = True  # class 2, score 0.5
    pseudo_label = paint_pseudo_label(masks, np.array([1, 2]), np.array([0.9, 0.5]), weak_label)
    assert pseudo_label[3, 3] == 1  # overlap: higher score wins
    assert pseudo_label[2, 2] == 2  # weak pixel keeps its label
    assert pseudo_label[5, 5] == 2 and pseudo_label[0, 5] == 255
    equal = paint_pseudo_label(masks, np.array([1, 2]), np.array([0.7, 0.7]), weak_label,
                               unlabelled=0)
    # A full tie (score and area) between classes: nothing decides, the overlap stays
    # unlabelled; the rest of each mask is painted.
    assert equal[3, 3] == 0 and equal[0, 0] == 1 and equal[5, 5] == 2 and equal[0, 5] == 0
    equal = paint_pseudo_label(masks, np.array([1, 2]), np.array([0.7, 0.7]), weak_label,
                               tie_unlabelled=False)
    assert equal[3, 3] == 1  # without tie_unlabelled the lower index wins
    same_class = paint_pseudo_label(masks, np.array([1, 1]), np.array([0.7, 0.7]), weak_label)
    assert same_class[3, 3] == 1  # agreeing ties paint
    masks[1, 0:6, 2:6] = True  # now larger than mask 0
    equal = paint_pseudo_label(masks, np.array([1, 2]), np.array([0.7, 0.7]), weak_label)
    assert equal[3, 3] == 1  # the smaller mask wins
    masks[0] = False
    masks[0, 3:5, 3:5] = True
    assert paint_pseudo_label(masks, np.array([1, 2]), np.array([0.7, 0.7]),
                              weak_label)[3, 3] == 1


def test_round_two_masks_and_confidence():
    weak_label = np.full((4, 4), 255, np.uint8)
    weak_label[0, 0] = 3
    prediction = np.full((4, 4), 1, np.uint8)
    prediction[3] = 255
    combined = combine_class_masks(weak_label, prediction)
    assert combined[0, 0] == 3 and combined[1, 1] == 1 and (combined[3] == 255).all()
    np.testing.assert_array_equal(combine_class_masks(weak_label, None), weak_label)
    probabilities = np.zeros((3, 2, 2), np.float32)
    probabilities[1] = [[0.97, 0.6], [0.96, 0.2]]
    probabilities[2] = 1 - probabilities[1]
    np.testing.assert_array_equal(confident_label(probabilities, 0.95), [[1, 255], [1, 255]])


def test_sesam_with_oracle_recovers_instances_from_points():
    gt_label = np.zeros((30, 40), np.uint8)
    gt_label[3:12, 3:15] = 1
    gt_label[15:27, 20:37] = 1
    gt_label[3:10, 25:35] = 2
    gt_label[0, :] = 255
    weak_label = np.full_like(gt_label, 255)
    for row, col in [(7, 8), (20, 28), (6, 30), (25, 5)]:
        weak_label[row, col] = gt_label[row, col]
    answerer = OraclePromptAnswerer(gt_label)
    pseudo_label = SeSAMLabeler()(weak_label, answerer, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(pseudo_label[1:], gt_label[1:])
    assert (pseudo_label[0] == 255).all()  # the oracle gives nothing on ignore pixels
    assert OraclePromptAnswerer.mask_source.startswith('oracle') and 'not SAM' in \
        OraclePromptAnswerer.mask_source


def test_rank_candidates_granularity_and_painting_groups():
    scores = np.array([1.0, 1.0, 0.5, 1.0])
    areas = np.array([10, 40, 5, 10])
    quality = np.array([0.9, 0.8, 1.0, 0.8])
    for tie_break, expected in (('quality-smaller', [0, 3, 1, 2]),
                                ('quality-larger', [1, 0, 3, 2])):
        np.testing.assert_array_equal(rank_candidates(scores, areas, tie_break=tie_break),
                                      expected)
    # quality first: 0 (0.9) before the 0.8s; area first: the larger 1 before 0 and 3.
    np.testing.assert_array_equal(rank_candidates(scores, areas, quality, tie_break='quality-'
                                                  'smaller'), [0, 3, 1, 2])
    np.testing.assert_array_equal(rank_candidates(scores, areas, quality, tie_break='larger-'
                                                  'quality'), [1, 0, 3, 2])
    np.testing.assert_array_equal(rank_candidates(scores, areas, quality, tie_break='smaller-'
                                                  'quality'), [0, 3, 1, 2])
    with pytest.raises(SamWsssError, match='tie_break'):
        rank_candidates(scores, areas, tie_break='largest')
    # Painting goes worst first; 0 and 3 tie in score and area and form one group.
    groups = painting_groups(scores, areas)
    assert [group.tolist() for group in groups] == [[2], [1], [3, 0]]
    assert painting_groups(np.zeros(0), np.zeros(0, np.int64)) == []


def test_labeler_unlabelled_is_any_class_or_ignore():
    """Uncovered pixels get the dataset's background class (not always 0), or 255."""
    gt_label = np.zeros((24, 24), np.uint8)
    gt_label[4:12, 4:12] = 3
    weak_label = np.full(gt_label.shape, 255, np.uint8)
    weak_label[8, 8] = 3
    for unlabelled in (0, 7, 255):
        label = SeSAMLabeler(unlabelled=unlabelled)(weak_label, OraclePromptAnswerer(gt_label))
        assert (label[4:12, 4:12] == 3).all() and label[20, 20] == unlabelled
    with pytest.raises(SamWsssError, match='class id .* or 255'):
        SeSAMLabeler(unlabelled=256)


class FixedAnswerer:
    """Answers every prompt with the same candidates and quality scores."""

    def __init__(self, candidates, scores):
        self.candidates, self.scores = candidates, scores

    def answer(self, point_coords, point_labels):
        count = len(point_coords)
        return (np.repeat(self.candidates[None], count, 0),
                np.repeat(self.scores[None], count, 0))


def test_both_selection_paths_break_ties_by_the_one_rule():
    """A click whose three masks (a part, the object, the object with its surroundings) all
    cover it and no other label: coverage ties, the quality scores tie, and the granularity is
    the tie-break's. The prompted path (SeSAMLabeler) and the automatic-mask path
    (sesam_coverage) must choose the same one (before: the part vs the surroundings)."""
    from mmseg_sam_wsss.core.merge import enhance_pseudo_label
    weak = np.full((10, 12), 255, np.uint8)
    weak[4, 4] = 1
    part = np.zeros(weak.shape, bool)
    part[3:6, 3:6] = True
    whole = np.zeros(weak.shape, bool)
    whole[2:8, 2:9] = True
    around = np.zeros(weak.shape, bool)
    around[1:9, 1:11] = True
    masks = np.stack([part, whole, around])
    prompted = SeSAMLabeler()(weak, FixedAnswerer(masks, np.full(3, 0.9, np.float32)))
    automatic = enhance_pseudo_label(weak, masks, rule='sesam_coverage', num_classes=2,
                                     keep_ignore=True)
    np.testing.assert_array_equal(prompted, automatic)
    from mmseg_sam_wsss.core.sesam_select import TIE_BREAK
    chosen = around if 'larger' in TIE_BREAK else part
    assert (prompted[chosen] == 1).all() and (prompted[~chosen] == 255).all()
    for tie_break, expected in (('quality-smaller', part), ('quality-larger', around)):
        label = SeSAMLabeler(tie_break=tie_break)(weak, FixedAnswerer(
            masks, np.full(3, 0.9, np.float32)))
        np.testing.assert_array_equal(label == 1, expected)
        np.testing.assert_array_equal(enhance_pseudo_label(
            weak, masks, rule='sesam_coverage', num_classes=2, keep_ignore=True,
            tie_break=tie_break) == 1, expected)
