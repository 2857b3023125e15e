"""Start-up time of the tools: ``python tools/<tool>.py --help`` wall time, best of N.

The NumPy tools must start in under a second: ``import mmseg_sam_wsss`` registers nothing, and
torch, mmcv, mmengine and mmseg are imported only by the tools and code paths that need them.
Baselines measured in the same run: a bare interpreter, and the registration import that every
tool paid before (torch + mmcv + mmengine + mmseg)::

    python benchmarks/bench_startup.py [--repeats 3]
"""
import argparse
import os.path as osp
import subprocess
import sys
import time

from common import machine_description

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

NUMPY_TOOLS = ('enhance_pseudo_labels', 'eval_pseudo_labels', 'mask_store', 'make_report',
               'make_weak_labels', 'make_synthetic_dataset', 'sesam_pseudo_labels',
               'generate_sam_masks', 'run_pipeline')
MODEL_TOOLS = ('train', 'test', 'generate_cams')


def best_seconds(argv, repeats: int) -> float:
    """Best wall time of ``argv`` (run from the repository root) over ``repeats`` runs."""
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    print(machine_description())
    rows = [('python -c pass (interpreter)', [sys.executable, '-c', 'pass']),
            ('import mmseg_sam_wsss.registration (torch+mmcv+mmengine+mmseg)',
             [sys.executable, '-c', 'import mmseg_sam_wsss.registration'])]
    rows += [(f'tools/{tool}.py --help', [sys.executable, f'tools/{tool}.py', '--help'])
             for tool in NUMPY_TOOLS + MODEL_TOOLS]
    width = max(len(name) for name, _ in rows)
    print(f'{"command".ljust(width)}  best of {args.repeats} (s)')
    for name, argv in rows:
        seconds = best_seconds(argv, args.repeats)
        kind = ' (model tool)' if any(f'/{tool}.py' in name for tool in MODEL_TOOLS) else ''
        print(f'{name.ljust(width)}  {seconds:6.2f}{kind}')


if __name__ == '__main__':
    main()
