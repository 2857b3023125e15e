import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

# Installed into site-packages: at interpreter start it arms a one-shot import hook that teaches
# mmengine the `mmseg_sam_wsss::` config scope when mmengine.config is first imported (see
# mmseg_sam_wsss_scope.py and docs/configs.md). It imports nothing else at start.
SCOPE_PTH = 'mmseg_sam_wsss-scope.pth'
# Guarded, so that a .pth left behind by `pip uninstall` of a `setup.py develop` install (pip does
# not track it there) does nothing instead of printing an error at every start. No importlib.util:
# importing it costs about 9 ms at every start.
SCOPE_PTH_LINE = ('import sys; exec("try:\\n import mmseg_sam_wsss_scope\\n'
                  'except ImportError:\\n pass\\nelse:\\n mmseg_sam_wsss_scope.install_hook()")\n')


def write_scope_pth(site_dir: str) -> None:
    """Write the scope hook's .pth into ``site_dir``."""
    os.makedirs(site_dir, exist_ok=True)
    with open(os.path.join(site_dir, SCOPE_PTH), 'w', encoding='utf-8') as handle:
        handle.write(SCOPE_PTH_LINE)


def read_version() -> str:
    scope = {}
    with open('mmseg_sam_wsss/version.py', encoding='utf-8') as handle:
        exec(handle.read(), scope)
    return scope['__version__']


def read_requirements(path: str) -> list:
    with open(path, encoding='utf-8') as handle:
        return [line.split('#')[0].strip() for line in handle
                if line.split('#')[0].strip() and not line.startswith('torch')]


class BuildPyWithScopeHook(build_py):
    """build_py that also writes the scope hook's .pth at the root of the install."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            # PEP 660 editable install (make setup): build_lib is thrown away; files meant for
            # site-packages go to the editable wheel's own folder, install's install_lib.
            root = self.get_finalized_command('install').install_lib
        else:
            root = self.build_lib
        write_scope_pth(root)

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, 'editable_mode', False):
            return outputs
        return outputs + [os.path.join(self.build_lib, SCOPE_PTH)]


class DevelopWithScopeHook(develop):
    """``setup.py develop`` (what ``pip install -e .`` runs here, with no pyproject.toml) plus
    the scope hook's .pth in the site folder that gets the egg-link."""

    def run(self) -> None:
        super().run()
        path = os.path.join(self.install_dir, SCOPE_PTH)
        if not self.uninstall:
            write_scope_pth(self.install_dir)
        elif os.path.exists(path):
            os.remove(path)


setup(
    name='mmseg_sam_wsss',
    version=read_version(),
    description='SAM-enhanced pseudo-labels for weakly supervised semantic segmentation, '
    'as an MMSegmentation 1.x plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseg_sam_wsss', 'mmseg_sam_wsss.*']),
    py_modules=['mmseg_sam_wsss_scope'],
    # The configs ship inside the package where mmengine looks for a scope's configs
    # (.mim/configs, a link to configs/ in the checkout, copied into wheels), as mmseg's do.
    package_data={'mmseg_sam_wsss': ['.mim/model-index.yml', '.mim/configs/**/*.py']},
    cmdclass={'build_py': BuildPyWithScopeHook, 'develop': DevelopWithScopeHook},
    python_requires='>=3.8',
    # torch/torchvision and mmcv (built with ops) are installed by `make setup`; see README.
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={'tests': read_requirements('requirements/tests.txt')},
    license='Apache License 2.0',
    zip_safe=False,
)
