"""``benchmarks/bench_coco_scale.py`` at tiny sizes: every row is printed, the extrapolations
follow from the per-image numbers, and the random-init SAM timing says it is NOT SAM.

The SAM part runs the tiny random test model on a 4x4 grid (the real run: full-size SAM, 32x32).
"""
import importlib.util
import os.path as osp
import re

import pytest
import torch

from mmseg_sam_wsss.errors import SamWsssError

COCO_IMAGES = 82081


def load_bench(repo_root: str):
    """The benchmark script as a module."""
    path = osp.join(repo_root, 'benchmarks', 'bench_coco_scale.py')
    spec = importlib.util.spec_from_file_location('bench_coco_scale', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_args(voc_mini: str) -> list:
    return ['--data-root', voc_mini, '--num-images', '2', '--masks-per-image', '10',
            '--size', '64', '48', '--repeats', '1']


def test_random_sam_timing_rows(repo_root, voc_mini, capsys):
    bench = load_bench(repo_root)
    threads_before = torch.get_num_threads()
    assert bench.main(tiny_args(voc_mini) + ['--sam-model-type', 'tiny',
                                             '--sam-points-per-side', '4',
                                             '--threads', '1']) == 0
    assert torch.get_num_threads() == threads_before  # the timing restores torch's threads
    out = capsys.readouterr().out
    assert 'random-init SAM tiny: timing of the architecture only, NOT SAM masks; ' \
           'post-processing excluded/depends on the weights' in out
    assert 'torch 1 thread(s)' in out
    assert '4x4 points in batches of 64' in out
    assert '48 mask logits upsampled' in out  # 16 points x 3 multimask outputs
    encoder, decoding, decoder = (float(value) for value in re.search(
        r'\(a\) image encoder ([\d.]+) s; \(b\) prompt decoding .* ([\d.]+) s \(prompt '
        r'encoder \+ mask decoder ([\d.]+) s', out).groups())
    per_image = float(re.search(r'\(a\) \+ \(b\) ([\d.]+) s', out).group(1))
    assert per_image == pytest.approx(encoder + decoding, abs=0.011)
    assert 0 < decoder <= decoding
    rows = re.findall(r'mask generation \(a\) \+ \(b\), random-init SAM tiny \(NOT SAM masks\), '
                      r'\s*(\d+) CPU worker\(s\) of 1 threads: ([\d.]+) h', out)
    assert [int(workers) for workers, _ in rows] == [1, 8, 32]
    for workers, row_hours in rows:
        expected = COCO_IMAGES * per_image / 3600 / int(workers)
        # per_image is printed to 0.01 s, the hours to 0.01 h
        assert float(row_hours) == pytest.approx(
            expected, abs=COCO_IMAGES * 0.005 / 3600 / int(workers) + 0.006)
    for row in ('COCO train2014, 82,081 images:', 'mask store:', 'SEPL merge,  1 worker(s)',
                'mask generation per GPU: not measured here (no GPU'):
        assert row in out


def test_skip_timing_and_gpu_seconds(repo_root, voc_mini, capsys):
    bench = load_bench(repo_root)
    assert bench.main(tiny_args(voc_mini) + ['--skip-sam-timing',
                                             '--amg-seconds-per-image', '2']) == 0
    out = capsys.readouterr().out
    assert 'random-init SAM' not in out
    assert 'mask generation on this CPU: not timed (--skip-sam-timing)' in out
    assert 'mask generation at 2.00 s/image, 1 GPU(s): 45.60 h' in out  # 82,081 x 2 s
    assert 'mask generation at 2.00 s/image, 8 GPU(s): 5.70 h' in out


def test_more_sam_images_than_images(repo_root, voc_mini):
    bench = load_bench(repo_root)
    with pytest.raises(SamWsssError, match='--sam-images 3: .* use 1 to 2'):
        bench.parse_args(tiny_args(voc_mini) + ['--sam-images', '3'])
