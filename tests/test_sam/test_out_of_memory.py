"""Out of device memory, FastAutomaticMaskGenerator halves its batches, retries and gives the
same masks; with nothing left to halve it stops with one line. The error is injected on the CPU
(a random-init tiny model with point disks: NOT SAM masks)."""
import numpy as np
import pytest
import torch

from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.sam.automatic_mask_generator import (FastAutomaticMaskGenerator,
                                                         is_out_of_memory)
from mmseg_sam_wsss.sam.builder import build_sam
from mmseg_sam_wsss.sam.testing import add_point_disks

SETTINGS = dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.9)


@pytest.fixture(scope='module')
def disk_model():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield add_point_disks(build_sam('tiny', random_init=True))
    torch.set_num_threads(threads)


def images():
    rng = np.random.default_rng(0)
    shapes = [(96, 128), (80, 64), (64, 64)]
    return [rng.integers(0, 255, shape + (3, ), dtype=np.uint8) for shape in shapes]


def cuda_oom(message='CUDA out of memory. Tried to allocate 2.00 GiB'):
    oom_type = getattr(torch.cuda, 'OutOfMemoryError', None)
    return oom_type(message) if oom_type is not None else RuntimeError(message)


def assert_same(expected, actual):
    assert len(expected) == len(actual)
    for one, two in zip(expected, actual):
        assert len(one) == len(two) > 0
        np.testing.assert_array_equal(one.runs, two.runs)
        np.testing.assert_array_equal(one.run_offsets, two.run_offsets)
        # the same masks; a batch of another size may round the last float bit differently
        np.testing.assert_allclose(one.predicted_iou, two.predicted_iou, atol=1e-6)
        np.testing.assert_array_equal(one.point_coords, two.point_coords)


def limit_calls(monkeypatch, module, batch_argument, limit, calls):
    """Make ``module`` raise CUDA's out-of-memory error for batches larger than ``limit``."""
    forward = module.forward

    def limited(*args, **kwargs):
        batch = kwargs[batch_argument].shape[0] if batch_argument in kwargs else \
            args[0].shape[0]
        calls.append(batch)
        if batch > limit:
            raise cuda_oom()
        return forward(*args, **kwargs)

    monkeypatch.setattr(module, 'forward', limited)


def test_decoder_out_of_memory_halves_points_per_batch_same_masks(disk_model, monkeypatch):
    expected = FastAutomaticMaskGenerator(disk_model, points_per_batch=64,
                                          **SETTINGS).generate_batch(images())
    lines, calls = [], []
    limit_calls(monkeypatch, disk_model.mask_decoder, 'sparse_prompt_embeddings', 16, calls)
    generator = FastAutomaticMaskGenerator(disk_model, points_per_batch=64, log=lines.append,
                                           **SETTINGS)
    finished = []
    actual = generator.generate_batch(images(), on_image=lambda i, m: finished.append(i))
    assert_same(expected, actual)
    assert generator.settings['points_per_batch'] == 16  # kept for the next images
    assert max(calls) == 64 and calls.count(64) == 1 and calls.count(32) == 1
    assert len(lines) == 2 and 'points_per_batch 64 -> 32' in lines[0] \
        and 'points_per_batch 32 -> 16' in lines[1] and 'out of memory' in lines[0]
    assert sorted(finished) == [0, 1, 2]


def test_encoder_out_of_memory_halves_the_image_batch_same_masks(disk_model, monkeypatch):
    expected = FastAutomaticMaskGenerator(disk_model, image_batch_size=3,
                                          **SETTINGS).generate_batch(images())
    lines, calls = [], []
    limit_calls(monkeypatch, disk_model.image_encoder, 'x', 1, calls)
    generator = FastAutomaticMaskGenerator(disk_model, image_batch_size=3, log=lines.append,
                                           **SETTINGS)
    assert_same(expected, generator.generate_batch(images()))
    assert generator.image_batch_size == 1 and calls == [3, 1, 1, 1]
    assert [line.split(': ')[-1] for line in lines] == [
        'image_batch_size 3 -> 1, retrying (the masks are the same)']


def test_out_of_memory_at_one_is_one_line_and_other_errors_pass(disk_model, monkeypatch):
    limit_calls(monkeypatch, disk_model.mask_decoder, 'sparse_prompt_embeddings', 0, [])
    generator = FastAutomaticMaskGenerator(disk_model, points_per_batch=4, log=lambda _: None,
                                           **SETTINGS)
    with pytest.raises(SamWsssError) as error:
        generator.generate(images()[2])
    message = str(error.value)
    assert '\n' not in message and 'points_per_batch=1' in message and '--amp bf16' in message
    assert len(generator.memory_retries) == 2  # 4 -> 2 -> 1, then the error
    monkeypatch.undo()

    def broken(*args, **kwargs):
        raise RuntimeError('shape mismatch')

    monkeypatch.setattr(disk_model.mask_decoder, 'forward', broken)
    with pytest.raises(RuntimeError, match='shape mismatch'):
        FastAutomaticMaskGenerator(disk_model, **SETTINGS).generate(images()[2])
    assert is_out_of_memory(cuda_oom()) and is_out_of_memory(RuntimeError('out of memory'))
    assert not is_out_of_memory(ValueError('out of memory'))
