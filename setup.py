from setuptools import find_packages, setup


def read_version() -> str:
    scope = {}
    with open('mmseg_sam_wsss/version.py', encoding='utf-8') as handle:
        exec(handle.read(), scope)
    return scope['__version__']


def read_requirements(path: str) -> list:
    with open(path, encoding='utf-8') as handle:
        return [line.split('#')[0].strip() for line in handle
                if line.split('#')[0].strip() and not line.startswith('torch')]


setup(
    name='mmseg_sam_wsss',
    version=read_version(),
    description='SAM-enhanced pseudo-labels for weakly supervised semantic segmentation, '
    'as an MMSegmentation 1.x plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseg_sam_wsss', 'mmseg_sam_wsss.*']),
    python_requires='>=3.8',
    # torch/torchvision and mmcv (built with ops) are installed by `make setup`; see README.
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={'tests': read_requirements('requirements/tests.txt')},
    license='Apache License 2.0',
    zip_safe=False,
)
