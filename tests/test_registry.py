"""Import layering: the core, the SAM path and the NumPy tools import only what they need, and one
config line registers the plugin into mmseg's registries."""
import importlib
import pkgutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


# What each layer may not import. The SAM mask path must run on a bare GPU machine with torch,
# segment-anything, NumPy, pycocotools (and tqdm for its progress bar).
OPENMMLAB = ('mmseg', 'mmcv', 'mmengine', 'mmpretrain')
NOT_ON_A_BARE_GPU_MACHINE = OPENMMLAB + ('scipy', 'skimage', 'matplotlib')
NUMPY_TOOLS = ('enhance_pseudo_labels', 'eval_pseudo_labels', 'make_weak_labels', 'mask_store',
               'make_report', 'make_synthetic_dataset', 'sesam_pseudo_labels',
               'generate_sam_masks', 'run_pipeline', 'convert_weak_labels')


def blocked(modules) -> str:
    """Python source that makes ``import <module>`` fail for each of ``modules``."""
    return f'import sys\nfor name in {tuple(modules)!r}: sys.modules[name] = None\n'


def run_python(repo_root: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code], cwd=repo_root, capture_output=True,
                          text=True, timeout=300)


def test_core_sam_simulation_and_pipeline_import_without_openmmlab(repo_root):
    code = blocked(OPENMMLAB) + (
        'import importlib, pkgutil\n'
        'import mmseg_sam_wsss.core as core, mmseg_sam_wsss.sam as sam\n'
        'import mmseg_sam_wsss.simulation as simulation\n'
        'import mmseg_sam_wsss.visualization as visualization, mmseg_sam_wsss.utils as utils\n'
        'import mmseg_sam_wsss.pipeline as pipeline\n'
        'names = []\n'
        'for package in (core, sam, simulation, visualization, pipeline):\n'
        '    for info in pkgutil.iter_modules(package.__path__):\n'
        '        importlib.import_module(package.__name__ + "." + info.name)\n'
        '        names.append(info.name)\n'
        'for name in ("cli", "stages"): importlib.import_module("mmseg_sam_wsss.utils." + name)\n'
        'print(len(names), "modules")\n')
    result = run_python(repo_root, code)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[0]) >= 20


def test_importing_the_package_registers_nothing(repo_root):
    code = ('import sys, mmseg_sam_wsss, mmseg_sam_wsss.core.merge\n'
            'print(sorted(n for n in ("torch", "mmseg", "mmcv", "mmengine") if n in sys.modules))\n')
    result = run_python(repo_root, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[]'


@pytest.mark.parametrize('tool', NUMPY_TOOLS)
def test_numpy_tools_start_without_torch_or_openmmlab(repo_root, tool):
    # --help parses every import of the tool; torch and OpenMMLab are only imported on demand.
    code = blocked(OPENMMLAB + ('torch', 'torchvision')) + (
        'import runpy\n'
        f'sys.argv = ["tools/{tool}.py", "--help"]\n'
        'try:\n'
        f'    runpy.run_path("tools/{tool}.py", run_name="__main__")\n'
        'except SystemExit as stop:\n'
        '    assert stop.code in (0, None), stop.code\n')
    result = run_python(repo_root, code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'usage:' in result.stdout


def test_sam_mask_generation_runs_on_a_bare_gpu_machine_set(repo_root, tmp_path):
    """generate_sam_masks.py --source sam with scipy, scikit-image, matplotlib and OpenMMLab
    blocked: a tiny random-init SAM (not SAM weights) writes a mask store for two images."""
    from mmseg_sam_wsss.sam.builder import build_tiny_sam_checkpoint
    checkpoint = build_tiny_sam_checkpoint(str(tmp_path / 'tiny.pth'))
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    rng = np.random.default_rng(0)
    for name in ('a', 'b'):
        Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(
            img_dir / f'{name}.jpg')
    argv = ['tools/generate_sam_masks.py', '--img-dir', str(img_dir), '--out',
            str(tmp_path / 'store'), '--source', 'sam', '--model-type', 'tiny', '--checkpoint',
            checkpoint, '--device', 'cpu', '--points-per-side', '4']
    code = blocked(NOT_ON_A_BARE_GPU_MACHINE) + (
        f'import runpy\nsys.argv = {argv!r}\n'
        'try:\n'
        '    runpy.run_path("tools/generate_sam_masks.py", run_name="__main__")\n'
        'except SystemExit as stop:\n'
        '    assert stop.code in (0, None), stop.code\n'
        f'bad = sorted(n for n in {NOT_ON_A_BARE_GPU_MACHINE!r} if sys.modules.get(n))\n'
        'assert not bad, bad\n')
    result = run_python(repo_root, code)
    assert result.returncode == 0, result.stderr[-3000:]
    written = {p.name for p in (tmp_path / 'store').iterdir()}
    assert {'a.samm', 'b.samm', 'store.json'} <= written


def test_registration_line_registers_every_component():
    from mmengine.utils import import_modules_from_strings

    from mmseg.registry import DATASETS, HOOKS, MODELS, TRANSFORMS
    import_modules_from_strings(imports=['mmseg_sam_wsss.registration'])
    expected = {TRANSFORMS: ('LoadSAMMasks', 'SAMEnhancePseudoLabel', 'LoadImageTags',
                             'LoadWeakLabel'),
                DATASETS: ('WeakLabelDataset', 'WeakVOCDataset', 'VOCAugDataset',
                           'COCO81Dataset', 'WeakCityscapesDataset', 'WeakADE20KDataset'),
                MODELS: ('CAMHead', 'CAMSegmentor', 'SemiSupervisedSegmentor',
                         'BalancedSemiLoss'),
                HOOKS: ('SemiSupervisedHook', )}
    for registry, names in expected.items():
        for name in names:
            component = registry.get(name)
            assert component is not None and component.__module__.startswith('mmseg_sam_wsss'), \
                (registry.name, name)
    # every glue module is imported, so nothing registers only when some tool happens to import it
    for package in ('mmseg_sam_wsss.datasets', 'mmseg_sam_wsss.models', 'mmseg_sam_wsss.engine'):
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__):
            assert f'{package}.{info.name}' in sys.modules
