"""Helpers the tests share: run a tool as a subprocess, import a tool as a module, and build
oracle-like masks from GT (GT components plus a block grid, NOT SAM output).

The tests import it as ``helpers`` (pytest puts ``tests/`` on ``sys.path`` for its conftest).
"""
import importlib.util
import os.path as osp
import subprocess
import sys
from typing import List

import numpy as np
import pytest
from scipy import ndimage

GRID_ORACLE_SOURCE = 'oracle (GT components + block grid; not SAM)'


def run_tool(repo_root: str, args: List[str], check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python <args>`` from the repository root; on failure show the ends of its output."""
    result = subprocess.run([sys.executable] + list(args), cwd=repo_root, capture_output=True,
                            text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f'{args[0]} failed ({result.returncode}):\n{result.stdout[-3000:]}'
                             f'\n{result.stderr[-5000:]}')
    return result


def load_tool(repo_root: str, name: str):
    """``tools/<name>.py`` imported as a module, to call its ``main`` in-process."""
    spec = importlib.util.spec_from_file_location(name, osp.join(repo_root, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def grid_oracle_masks(gt: np.ndarray, grid: int = 4) -> np.ndarray:
    """GT connected components of every class plus a ``grid x grid`` block partition."""
    masks = []
    for class_id in np.unique(gt):
        if class_id == 255:
            continue
        components, count = ndimage.label(gt == class_id)
        masks += [components == index for index in range(1, count + 1)]
    height, width = gt.shape
    for y_index in range(grid):
        for x_index in range(grid):
            block = np.zeros(gt.shape, bool)
            block[y_index * height // grid:(y_index + 1) * height // grid,
                  x_index * width // grid:(x_index + 1) * width // grid] = True
            masks.append(block)
    return np.stack(masks)


def run_main(module, argv) -> int:
    """The exit status of a loaded tool's ``main(argv)`` run as from the shell (``run_tool``)."""
    with pytest.raises(SystemExit) as exit_info:
        module.run_tool(lambda: module.main(argv))
    return exit_info.value.code


def last_error(capsys) -> str:
    """The last line the tool wrote to stderr (its one-line error), '' if none."""
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1] if lines else ''
