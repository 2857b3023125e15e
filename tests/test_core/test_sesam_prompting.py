"""SamPromptAnswerer with a tiny random-init SAM (not a real SAM result): shapes and batching."""
from functools import partial

import numpy as np
import pytest
import torch
from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                       TwoWayTransformer)

from mmseg_sam_wsss.core.sesam_select import SeSAMLabeler
from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.sam.prompting import SamPromptAnswerer


def tiny_random_sam(img_size: int = 128, embed_dim: int = 16) -> Sam:
    """A random-init SAM with tiny dimensions; its masks are noise, not SAM results."""
    torch.manual_seed(0)
    grid = img_size // 16
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=img_size, patch_size=16, embed_dim=32, depth=1, num_heads=2,
            out_chans=embed_dim, window_size=4, global_attn_indexes=(0,), use_rel_pos=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)),
        prompt_encoder=PromptEncoder(embed_dim=embed_dim, image_embedding_size=(grid, grid),
                                     input_image_size=(img_size, img_size), mask_in_chans=4),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3, transformer_dim=embed_dim, iou_head_depth=1,
            iou_head_hidden_dim=8,
            transformer=TwoWayTransformer(depth=1, embedding_dim=embed_dim, mlp_dim=32,
                                          num_heads=2)))
    return sam.eval()


def test_answerer_batches_prompts_on_one_encoding():
    answerer = SamPromptAnswerer(tiny_random_sam(), mask_source='sam-random-init (not SAM)')
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
    with pytest.raises(SamWsssError, match='mask_source'):
        SamPromptAnswerer(tiny_random_sam())


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
