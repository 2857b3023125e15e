"""What every benchmark shares: a one-line machine description and a best-of-N wall timer.

Benchmarks print numbers; they assert nothing about speed (targets are read off their output).
"""
import os
import platform
import time
from typing import Callable, Tuple


def machine_description() -> str:
    """CPU model, logical cores, RAM, and the GPU when torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            names = [line.split(':', 1)[1].strip() for line in handle
                     if line.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    memory = ''
    try:
        memory = f', {os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30:.0f} GiB RAM'
    except (ValueError, OSError, AttributeError):
        pass
    gpu = 'no GPU'
    try:
        import torch
        if torch.cuda.is_available():
            gpu = f'GPU {torch.cuda.get_device_name(0)}'
        torch_version = f', torch {torch.__version__}'
    except ImportError:
        torch_version = ''
    return (f'{cpu}, {os.cpu_count()} logical cores{memory}, {gpu}, '
            f'Python {platform.python_version()}{torch_version}')


def best_time(function: Callable[[], object], repeats: int = 3) -> Tuple[float, object]:
    """``(seconds, result)`` of the fastest of ``repeats`` calls of ``function``."""
    best, result = float('inf'), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result
