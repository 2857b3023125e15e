"""Let mmengine resolve ``_base_ = ['mmseg_sam_wsss::sam_wsss/deeplabv3_voc.py']``.

mmengine finds ``<scope>::<path>`` configs through a hard-coded dict of OpenMMLab packages
(``mmengine.config.utils.MODULE2PACKAGE``) and reads them from ``<package>/.mim/configs``.
:func:`register` adds this package to that dict and makes mmengine look for the package where
Python imports it from (an editable install or ``PYTHONPATH`` included). ``Config.fromfile``
reads ``_base_`` before any ``custom_imports``, so the install puts ``mmseg_sam_wsss-scope.pth``
into site-packages; it calls :func:`install_hook` at interpreter start, which registers only
when (and if) ``mmengine.config.config`` is imported and imports nothing else at start.

This module is stdlib-only and top-level on purpose: importing ``mmseg_sam_wsss`` at interpreter
start would pin that copy of the package before the script's own ``sys.path`` entries exist.
"""
from __future__ import annotations  # no typing import at interpreter start

import os.path as osp
import sys
from types import ModuleType

SCOPE = 'mmseg_sam_wsss'
_CONFIG_MODULE = 'mmengine.config.config'
_MARK = '_mmseg_sam_wsss_scope'


def package_dir() -> str | None:
    """Return the folder Python imports ``mmseg_sam_wsss`` from (the imported copy if any).

    Returns:
        str | None: The package folder, or None when the package is not importable.
    """
    module = sys.modules.get(SCOPE)
    spec = getattr(module, '__spec__', None)
    if spec is None:
        import importlib.util
        spec = importlib.util.find_spec(SCOPE)
    if spec is None or spec.origin is None:
        return None
    return osp.dirname(spec.origin)


def register(config_module: ModuleType | None = None) -> None:
    """Teach an imported mmengine the ``mmseg_sam_wsss::`` scope; idempotent.

    Args:
        config_module (ModuleType, optional): ``mmengine.config.config`` when called while it is
            being imported; imported here otherwise.
    """
    if config_module is None:
        import mmengine.config.config as config_module
    utils_module = sys.modules['mmengine.config.utils']
    utils_module.MODULE2PACKAGE.setdefault(SCOPE, SCOPE)  # PKG2PROJECT is the same dict
    original = config_module.get_installed_path
    if getattr(original, _MARK, False):
        return
    # Looked up now, before mmengine's is_installed() reloads pkg_resources, which may put the
    # folder of a `setup.py develop` install in front of sys.path (and so of PYTHONPATH).
    found_at_register = package_dir()

    def get_installed_path(package: str) -> str:
        # mmengine asks pkg_resources, which for a PEP 660 editable install names site-packages
        # (where no copy lies) and ignores PYTHONPATH; the import system knows the real folder.
        if package == SCOPE:
            found = package_dir() if SCOPE in sys.modules else found_at_register
            if found is not None:
                return found
        return original(package)

    setattr(get_installed_path, _MARK, True)
    config_module.get_installed_path = get_installed_path


class _RegisterOnImport:
    """A one-shot meta path finder: runs :func:`register` right after mmengine's config loads.

    Not an ``importlib.abc.MetaPathFinder`` subclass: importing ``importlib.abc`` costs about
    30 ms, at every interpreter start.
    """

    def find_spec(self, fullname: str, path, target=None):
        if fullname != _CONFIG_MODULE:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find_spec = getattr(finder, 'find_spec', None)
            spec = find_spec(fullname, path, target) if find_spec else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, 'exec_module'):
            return spec
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            register(module)

        loader.exec_module = exec_module  # this spec's own loader instance only
        return spec


def install_hook() -> None:
    """Register now if mmengine's config module is loaded, else when it is first imported."""
    if _CONFIG_MODULE in sys.modules:
        register(sys.modules[_CONFIG_MODULE])
    elif not any(isinstance(finder, _RegisterOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
