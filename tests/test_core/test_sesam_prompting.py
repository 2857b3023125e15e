"""SamPromptAnswerer with a tiny random-init SAM (not a real SAM result): shapes and batching."""
import numpy as np
import pytest
import torch

from mmseg_sam_wsss.core.sesam_select import SeSAMLabeler
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.sam.builder import build_sam
from mmseg_sam_wsss.sam.prompting import SamPromptAnswerer


def tiny_random_sam():
    """``build_sam('tiny', random_init=True)``: its masks are noise, not SAM results."""
    torch.manual_seed(0)
    return build_sam('tiny', random_init=True)


def test_answerer_batches_prompts_on_one_encoding():
    sam_model = tiny_random_sam()
    answerer = SamPromptAnswerer(sam_model)
    assert 'not SAM' in answerer.mask_source
    with pytest.raises(SamWsssError, match='set_image'):
        answerer.answer(np.zeros((1, 1, 2), np.float32), np.ones((1, 1), np.int64))
    image = np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8)
    answerer.set_image(image)
    features = answerer.predictor.features.clone()
    coords = np.array([[[10, 20], [30, 40]], [[80, 50], [0, 0]]], np.float32)
    labels = np.array([[1, 0], [1, -1]])
    candidates, scores = answerer.answer(coords, labels)
    assert candidates.shape == (2, 3, 60, 90) and candidates.dtype == bool
    assert scores.shape == (2, 3) and scores.dtype == np.float32
    # The same prompt alone gives the same candidates: batching does not change answers.
    alone, _ = answerer.answer(coords[1:], labels[1:])
    np.testing.assert_array_equal(alone[0], candidates[1])
    assert torch.equal(features, answerer.predictor.features)  # no re-encoding
    empty, empty_scores = answerer.answer(np.zeros((0, 1, 2)), np.zeros((0, 1)))
    assert empty.shape == (0, 3, 60, 90) and empty_scores.shape == (0, 3)
    with pytest.raises(SamWsssError, match='RGB'):
        answerer.set_image(image[..., 0])


def test_answerer_needs_a_mask_source():
    sam_model = tiny_random_sam()
    del sam_model.mask_source
    with pytest.raises(SamWsssError, match='mask_source'):
        SamPromptAnswerer(sam_model)
    assert SamPromptAnswerer(sam_model, mask_source='given').mask_source == 'given'


def test_labeler_runs_with_random_sam_and_keeps_weak_pixels():
    answerer = SamPromptAnswerer(tiny_random_sam(), mask_source='sam-random-init (not SAM)')
    answerer.set_image(np.full((40, 50, 3), 127, np.uint8))
    weak_label = np.full((40, 50), 255, np.uint8)
    weak_label[5:8, 5:20] = 1
    weak_label[30:33, 30:45] = 0
    pseudo_label = SeSAMLabeler(prompt_batch_size=1)(weak_label, answerer)
    assert pseudo_label.shape == (40, 50) and pseudo_label.dtype == np.uint8
    labelled = weak_label != 255
    np.testing.assert_array_equal(pseudo_label[labelled], weak_label[labelled])
    assert set(np.unique(pseudo_label).tolist()) <= {0, 1, 255}
