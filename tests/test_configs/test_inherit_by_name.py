"""Our configs inherited by name from another project: ``_base_ = ['mmseg_sam_wsss::...']``.

mmengine resolves ``<scope>::<path>`` only for the OpenMMLab packages it lists; the install's
``mmseg_sam_wsss-scope.pth`` arms :mod:`mmseg_sam_wsss_scope`, which adds ours when mmengine's
config module loads (docs/configs.md). Each test runs in a fresh venv (``--without-pip``) that
sees the main venv's packages, less this package's own install (:data:`OWN_INSTALL`), through a
path ``.pth``, from a working directory outside the repository, with mmseg's own, unchanged
``tools/train.py``:

* from the checkout (``PYTHONPATH``, as an editable install has it) with the hook's ``.pth``;
* from a wheel built from the repository and installed into the venv, no ``PYTHONPATH``.

The user config inherits our CPU smoke config by name, moves the data to voc_mini, 4 train ids and
an oracle mask store (GT objects, a measuring instrument, not SAM), and trains 2 iterations.
"""
import ast
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from mmseg_sam_wsss.core.io import read_label_png
from mmseg_sam_wsss.core.mask_store import MaskStore
from mmseg_sam_wsss.simulation.mask_oracles import OracleMasks

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAIN_SITE_PACKAGES = sysconfig.get_paths()['purelib']
SCOPE_PTH = 'mmseg_sam_wsss-scope.pth'
NUM_IDS = 4
# What setup.py packs: the package, the hook module and the configs (linked from .mim/configs).
SOURCE_ENTRIES = ('setup.py', 'README.md', 'requirements', 'mmseg_sam_wsss',
                  'mmseg_sam_wsss_scope.py', 'configs')


def _scope_pth_line() -> str:
    """The line setup.py writes into the install's ``mmseg_sam_wsss-scope.pth``."""
    with open(osp.join(REPO_ROOT, 'setup.py'), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'SCOPE_PTH_LINE':
            return ast.literal_eval(node.value)
    raise AssertionError('setup.py: SCOPE_PTH_LINE not found')


# The main venv's entries that install this package: hidden from the fresh venvs, so that the
# main checkout's egg-link (which pkg_resources follows, and puts in front of sys.path) is unseen.
OWN_INSTALL = re.compile(
    r'^(mmseg[_-]sam[_-]wsss.*|__editable__.*|easy-install\.pth|.*\.egg-link)$')


def make_venv(root: str) -> str:
    """A fresh venv without pip that imports the main venv's packages except this one.

    Returns:
        str: The venv's site-packages folder.
    """
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', root], check=True)
    site_dir = subprocess.run(
        [osp.join(root, 'bin', 'python'), '-c', 'import sysconfig; '
         'print(sysconfig.get_paths()["purelib"])'],
        check=True, capture_output=True, text=True).stdout.strip()
    deps = osp.join(root, 'main_venv_deps')
    os.makedirs(deps)
    for name in os.listdir(MAIN_SITE_PACKAGES):
        if not OWN_INSTALL.match(name):
            os.symlink(osp.join(MAIN_SITE_PACKAGES, name), osp.join(deps, name))
    # A path line only: .pth files in that folder are not run.
    with open(osp.join(site_dir, 'zz_main_venv_deps.pth'), 'w', encoding='utf-8') as handle:
        handle.write(deps + '\n')
    return site_dir


def venv_run(venv: str, args: list, cwd: str, pythonpath: str = None,
             timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the venv's python from ``cwd``; ``PYTHONPATH`` is ``pythonpath`` or unset."""
    env = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH'}
    if pythonpath:
        env['PYTHONPATH'] = pythonpath
    env.setdefault('OMP_NUM_THREADS', '1')
    return subprocess.run([osp.join(venv, 'bin', 'python')] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_user_project(root: str, voc_mini: str) -> str:
    """A project outside the repository: 4 train ids, an oracle mask store, one config."""
    os.makedirs(root)
    with open(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt')) as handle:
        ids = [line.strip() for line in handle if line.strip()][:NUM_IDS]
    ids_file = osp.join(root, 'train_ids.txt')
    with open(ids_file, 'w') as handle:
        handle.write('\n'.join(ids) + '\n')
    oracle = OracleMasks()
    store = MaskStore(osp.join(root, 'sam_masks'), create=True, source=oracle.source,
                      settings=oracle.settings)
    for image_id in ids:
        gt_label = read_label_png(osp.join(voc_mini, 'SegmentationClass', image_id + '.png'))
        store.write(image_id, oracle.generate(gt_label, image_id))
    config = osp.join(root, 'my_deeplabv3_voc.py')
    with open(config, 'w') as handle:
        handle.write(textwrap.dedent(f'''\
            # A user's config: ours by name, then only the data and the length of the run.
            _base_ = ['mmseg_sam_wsss::smoke/deeplabv3_voc_smoke.py']

            data_root = {voc_mini!r}
            train_pipeline = _base_.train_pipeline
            train_pipeline[2].mask_root = {osp.join(root, 'sam_masks')!r}  # LoadSAMMasks
            train_dataloader = dict(dataset=dict(
                data_root=data_root, ann_file={ids_file!r},
                data_prefix=dict(seg_map_path='pseudo_labels/transcam'),
                pipeline=train_pipeline))
            val_dataloader = dict(dataset=dict(data_root=data_root, indices=1))
            test_dataloader = val_dataloader
            train_cfg = dict(max_iters=2, val_interval=2)
            '''))
    return config


def mmseg_train_script() -> str:
    """mmseg's own tools/train.py, as pip installs it."""
    import mmseg
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(script), script
    return script


def assert_trained(result: subprocess.CompletedProcess, work_dir: str, voc_mini: str) -> None:
    """Two iterations ran on voc_mini through our components, and a checkpoint was saved."""
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert 'Saving checkpoint at 2 iterations' in output, output[-4000:]
    assert osp.isfile(osp.join(work_dir, 'iter_2.pth')), os.listdir(work_dir)
    dumped = open(osp.join(work_dir, 'my_deeplabv3_voc.py')).read()
    assert repr(voc_mini) in dumped and "type='LoadSAMMasks'" in dumped
    assert 'Failed to search registry' not in output and 'Failed to import' not in output, \
        'a component fell out of its scope'


def test_by_name_fails_without_the_scope(tmp_path):
    """Without the hook mmengine refuses the name: the failure this feature removes."""
    venv = str(tmp_path / 'venv')
    make_venv(venv)
    (tmp_path / 'user.py').write_text("_base_ = ['mmseg_sam_wsss::sam_wsss/deeplabv3_voc.py']\n")
    result = venv_run(venv, ['-c', 'from mmengine.config import Config; '
                             'Config.fromfile("user.py", import_custom_modules=False)'],
                      cwd=str(tmp_path), pythonpath=REPO_ROOT)
    assert result.returncode != 0
    assert 'does not support to load mmseg_sam_wsss config' in result.stderr


def test_scope_hook_is_lazy(tmp_path):
    """The .pth imports neither mmengine nor our package at start, and arms mmengine later."""
    venv = str(tmp_path / 'venv')
    site_dir = make_venv(venv)
    with open(osp.join(site_dir, SCOPE_PTH), 'w') as handle:
        handle.write(_scope_pth_line())
    code = ('import sys; print(sorted(m for m in ("mmengine", "mmseg_sam_wsss", "importlib.abc") '
            'if m in sys.modules)); import mmengine.config.utils as u, mmengine.config.config as c;'
            ' print(u.PKG2PROJECT.get("mmseg_sam_wsss"), c.get_installed_path("mmseg_sam_wsss"))')
    result = venv_run(venv, ['-c', code], cwd=str(tmp_path), pythonpath=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    loaded_at_start, registered = result.stdout.splitlines()
    assert loaded_at_start == '[]'
    # found where Python imports the package from (here PYTHONPATH), not where pip recorded it
    assert registered == f'mmseg_sam_wsss {osp.join(REPO_ROOT, "mmseg_sam_wsss")}'


def test_register_in_process(tmp_path):
    """``register()`` (for a checkout that is not installed) resolves names to this checkout's
    configs, repeatedly, and a name that is not ours fails naming the file it looked for."""
    import mmseg_sam_wsss_scope
    from mmengine.config import Config
    mmseg_sam_wsss_scope.register()
    mmseg_sam_wsss_scope.register()  # idempotent: the lookup is wrapped once
    user = tmp_path / 'user.py'
    user.write_text("_base_ = ['mmseg_sam_wsss::sesam/deeplabv3_voc_point.py']\nfoo = 1\n")
    cfg = Config.fromfile(str(user), import_custom_modules=False)
    ours = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'sesam', 'deeplabv3_voc_point.py'),
                           import_custom_modules=False)
    assert cfg.foo == 1 and cfg.model.type == ours.model.type == 'SemiSupervisedSegmentor'
    assert cfg.train_dataloader.dataset.data_prefix == ours.train_dataloader.dataset.data_prefix
    user.write_text("_base_ = ['mmseg_sam_wsss::sesam/no_such_config.py']\n")
    looked_for = osp.join(REPO_ROOT, 'mmseg_sam_wsss', '.mim', 'configs', 'sesam',
                          'no_such_config.py')
    with pytest.raises(FileNotFoundError, match=re.escape(looked_for)):
        Config.fromfile(str(user), import_custom_modules=False)


@pytest.mark.slow
def test_inherit_by_name_from_the_checkout(voc_mini, tmp_path):
    """A project outside the repo inherits ours by name and trains with mmseg's train.py."""
    venv = str(tmp_path / 'venv')
    site_dir = make_venv(venv)
    with open(osp.join(site_dir, SCOPE_PTH), 'w') as handle:
        handle.write(_scope_pth_line())
    project = str(tmp_path / 'project')
    config = write_user_project(project, voc_mini)
    work_dir = osp.join(project, 'work_dir')
    result = venv_run(venv, [mmseg_train_script(), config, '--work-dir', work_dir],
                      cwd=project, pythonpath=REPO_ROOT)
    assert_trained(result, work_dir, voc_mini)


def copy_sources(tmp_path) -> str:
    """A copy of what setup.py packs (builds write build/ and *.egg-info beside setup.py)."""
    source = tmp_path / 'source'
    source.mkdir()
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '*.egg-info')
    for entry in SOURCE_ENTRIES:
        path = osp.join(REPO_ROOT, entry)
        if osp.isdir(path):
            shutil.copytree(path, source / entry, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, source / entry)
    return str(source)


@pytest.mark.slow
def test_editable_install_arms_the_scope(tmp_path):
    """``make setup``'s ``pip install --no-deps --no-build-isolation -e .`` (setup.py develop
    here) installs the hook's .pth too: the name resolves to the checkout's configs."""
    source = copy_sources(tmp_path)
    venv = str(tmp_path / 'venv')
    site_dir = make_venv(venv)
    subprocess.run([sys.executable, '-m', 'pip', '--python', osp.join(venv, 'bin', 'python'),
                    'install', '-q', '--no-deps', '--no-build-isolation', '-e', source],
                   check=True, capture_output=True)
    assert open(osp.join(site_dir, SCOPE_PTH)).read() == _scope_pth_line()
    (tmp_path / 'user.py').write_text("_base_ = ['mmseg_sam_wsss::sam_wsss/deeplabv3_voc.py']\n")
    code = ('from mmengine.config import Config; cfg = Config.fromfile("user.py", '
            'import_custom_modules=False); print(cfg.filename, cfg.train_pipeline[2].type)')
    result = venv_run(venv, ['-c', code], cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['user.py', 'LoadSAMMasks']
    where = venv_run(venv, ['-c', 'import mmseg_sam_wsss; print(mmseg_sam_wsss.__file__)'],
                     cwd=str(tmp_path))
    assert where.stdout.strip() == osp.join(source, 'mmseg_sam_wsss', '__init__.py')


def build_wheel(tmp_path) -> str:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the repository's sources."""
    source = copy_sources(tmp_path)
    dist = tmp_path / 'dist'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(dist), source],
                   check=True, capture_output=True, cwd=str(tmp_path))
    wheels = list(dist.glob('mmseg_sam_wsss-*.whl'))
    assert len(wheels) == 1, wheels
    return str(wheels[0])


@pytest.mark.slow
def test_inherit_by_name_from_an_installed_wheel(voc_mini, tmp_path):
    """The same from a wheel installed into a fresh venv: the configs come with the package."""
    wheel = build_wheel(tmp_path)
    venv = str(tmp_path / 'venv')
    site_dir = make_venv(venv)
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
                    '--target', site_dir, wheel], check=True, capture_output=True)
    assert osp.isfile(osp.join(site_dir, SCOPE_PTH))
    project = str(tmp_path / 'project')
    config = write_user_project(project, voc_mini)
    where = venv_run(venv, ['-c', 'import mmseg_sam_wsss; print(mmseg_sam_wsss.__file__)'],
                     cwd=project)
    assert where.stdout.strip() == osp.join(site_dir, 'mmseg_sam_wsss', '__init__.py'), where
    assert osp.isfile(osp.join(site_dir, 'mmseg_sam_wsss', '.mim', 'configs', 'sam_wsss',
                               'deeplabv3_voc.py'))
    work_dir = osp.join(project, 'work_dir')
    result = venv_run(venv, [mmseg_train_script(), config, '--work-dir', work_dir], cwd=project)
    assert_trained(result, work_dir, voc_mini)
