"""The plugin registers into mmseg's registries, and its core imports without mmseg or mmcv."""
import subprocess
import sys

CORE_MODULES = ['mmseg_sam_wsss.core.io', 'mmseg_sam_wsss.utils.cli']


def test_core_imports_without_mmseg_and_mmcv(repo_root):
    # Block mmseg/mmcv/mmengine entirely: the core (and the SAM wrapper) must still import.
    code = ('import sys\n'
            'for name in ("mmseg", "mmcv", "mmengine"): sys.modules[name] = None\n'
            'import importlib, pkgutil, mmseg_sam_wsss\n'
            'assert not mmseg_sam_wsss.HAS_MMSEG\n'
            'import mmseg_sam_wsss.core as core, mmseg_sam_wsss.sam as sam\n'
            'for package in (core, sam):\n'
            '    for info in pkgutil.iter_modules(package.__path__):\n'
            '        importlib.import_module(package.__name__ + "." + info.name)\n'
            f'for name in {CORE_MODULES!r}: importlib.import_module(name)\n'
            'print("core-ok")\n')
    result = subprocess.run([sys.executable, '-c', code], cwd=repo_root, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert 'core-ok' in result.stdout


def test_custom_imports_registers_into_mmseg_scope():
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings

    from mmseg.registry import TRANSFORMS
    cfg = Config(dict(custom_imports=dict(imports=['mmseg_sam_wsss'], allow_failed_imports=False),
                      default_scope='mmseg'))
    import_modules_from_strings(**cfg.custom_imports)
    # Every module of the glue packages is imported, so each registered class is found by name.
    import mmseg_sam_wsss.registration as registration
    assert registration.GLUE_MODULES
    assert TRANSFORMS.get('LoadAnnotations') is not None
