"""The commands in README.md and docs/*.md name things that exist.

Every code span (fenced blocks and inline ``code``) is read as shell words. A repository script
(``tools/*.py``, ``benchmarks/*.py``, ``tools/*.sh``) must exist, and each ``--flag`` written
after it must be one its ``--help`` lists (the subcommand's for ``tools/mask_store.py``); every
``--flag`` anywhere in the docs must be one of some tool's, or of the few outside programs the
docs call (:data:`OUTSIDE_FLAGS`). Configs (``configs/...``, ``mmseg_sam_wsss::...``), files of
the repository, ``make`` targets and variables, and relative links with their anchors must
exist too. A wrong flag in a doc (``--autocast`` for ``--amp``) fails here.
"""
import functools
import glob
import os.path as osp
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Set, Tuple

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOCS = ['README.md'] + sorted(osp.relpath(path, REPO_ROOT)
                              for path in glob.glob(osp.join(REPO_ROOT, 'docs', '*.md')))
SCRIPT = re.compile(r'^(?:tools|benchmarks)/[\w/]+\.(?:py|sh)$')
FLAG = re.compile(r'(?<![\w-])--[a-zA-Z][\w-]*')
SUBCOMMANDS = {'tools/mask_store.py': ('import-amg', 'export-amg', 'verify')}
# The dist_*.sh launchers pass their arguments to a tool.
LAUNCHED = {'tools/dist_train.sh': 'tools/train.py', 'tools/dist_test.sh': 'tools/test.py',
            'tools/dist_generate_sam_masks.sh': 'tools/generate_sam_masks.py',
            'tools/dist_predict_labels.sh': 'tools/predict_labels.py'}
# mmseg's scripts the docs name by their path in mmseg's repository.
MMSEG_SCRIPTS = re.compile(r'^tools/(dataset_converters|analysis_tools|model_converters)/')
# Flags of programs outside the repository that the docs call: pip, pytest, python -m venv.
OUTSIDE_FLAGS = {'--no-deps', '--no-build-isolation', '--without-pip',
                 '--no-loadscope-reorder'}  # pip's, venv's, pytest-xdist's


def _read(path: str) -> str:
    with open(osp.join(REPO_ROOT, path), encoding='utf-8') as handle:
        return handle.read()


def code_spans(text: str) -> List[str]:
    """Fenced code blocks (shell ones joined at trailing backslashes) and inline code spans."""
    spans = []
    for match in re.finditer(r'^```(\w*)\n(.*?)^```', text, re.M | re.S):
        if match.group(1) in ('', 'bash', 'sh', 'shell'):
            spans.extend(match.group(2).replace('\\\n', ' ').splitlines())
        else:
            spans.append(match.group(2))
    prose = re.sub(r'^```.*?^```', '', text, flags=re.M | re.S)
    spans.extend(re.findall(r'`([^`\n]+)`', prose))
    return spans


def words(span: str) -> List[str]:
    """Shell words of a span, comments dropped; a span shlex cannot split is split on spaces."""
    try:
        return shlex.split(span, comments=True)
    except ValueError:
        return span.split()


def script_commands(span: str) -> List[Tuple[str, List[str]]]:
    """``(script, its words)`` for each repository script a span runs."""
    found, current = [], None
    for word in words(span):
        bare = word.strip('[]()')
        if SCRIPT.match(bare) and not MMSEG_SCRIPTS.match(bare):
            current = (bare, [])
            found.append(current)
        elif word in ('|', '||', '&&', ';') or word.startswith('$('):
            current = None
        elif current is not None:
            current[1].append(word)
    return found


@functools.lru_cache(maxsize=None)
def doc_commands() -> Tuple[Tuple[str, str, Tuple[str, ...]], ...]:
    """``(doc, script, words)`` of every script command in the docs."""
    return tuple((doc, script, tuple(args)) for doc in DOCS for span in code_spans(_read(doc))
                 for script, args in script_commands(span))


def _help(script: str, subcommand: str = '') -> str:
    command = [sys.executable, osp.join(REPO_ROOT, script)] + ([subcommand] if subcommand else [])
    result = subprocess.run(command + ['--help'], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f'{script} {subcommand} --help failed: {result.stderr[-2000:]}'
    return result.stdout


@pytest.fixture(scope='module')
def tool_flags() -> Dict[Tuple[str, str], Set[str]]:
    """``{(script, subcommand): flags}`` from ``--help`` of every argparse script in the repo."""
    keys = []
    for path in sorted(glob.glob(osp.join(REPO_ROOT, 'tools', '*.py'))
                       + glob.glob(osp.join(REPO_ROOT, 'benchmarks', 'bench_*.py'))):
        script = osp.relpath(path, REPO_ROOT)
        if 'argparse' not in _read(script):
            continue  # it would run instead of printing help
        keys.extend([(script, sub) for sub in SUBCOMMANDS.get(script, ('',))])
    with ThreadPoolExecutor(max_workers=4) as pool:
        helps = list(pool.map(lambda key: _help(*key), keys))
    return {key: set(FLAG.findall(text)) for key, text in zip(keys, helps)}


def test_docs_found():
    assert 'README.md' in DOCS and 'docs/tools.md' in DOCS and 'docs/configs.md' in DOCS
    assert len(doc_commands()) > 50, 'the command parser found too few commands'


def test_scripts_exist():
    missing = sorted({(doc, script) for doc, script, _ in doc_commands()
                      if not osp.isfile(osp.join(REPO_ROOT, script))})
    assert not missing, missing


@pytest.mark.slow  # about 20 --help runs, several of which import mmseg: 30-80 s on 2 cores
def test_each_command_uses_its_tools_flags(tool_flags):
    """A flag written after a script is one of that script's (or its subcommand's)."""
    wrong = []
    for doc, script, args in doc_commands():
        script = LAUNCHED.get(script, script)
        if not script.endswith('.py'):
            continue
        subcommand = args[0] if args and args[0] in SUBCOMMANDS.get(script, ()) else ''
        known = tool_flags.get((script, subcommand))
        if known is None:
            wrong.append(f'{doc}: {script} takes no --help (not argparse), yet flags are given'
                         if any(FLAG.search(arg) for arg in args) else None)
            continue
        for arg in args:
            wrong.extend(f'{doc}: {script} {subcommand} has no {flag}'.replace('  ', ' ')
                         for flag in FLAG.findall(arg) if flag not in known)
    wrong = [line for line in wrong if line]
    assert not wrong, '\n'.join(wrong)


@pytest.mark.slow
def test_every_flag_exists_somewhere(tool_flags):
    """A flag named in prose (``--amp``, ``--skip-bad``) is some tool's, or an outside one's."""
    known = set().union(*tool_flags.values()) | OUTSIDE_FLAGS
    wrong = sorted({(doc, flag) for doc in DOCS for span in code_spans(_read(doc))
                    for flag in FLAG.findall(span) if flag not in known})
    assert not wrong, wrong


def test_configs_exist():
    """``configs/...`` paths (brace lists expanded, globs matched), ``mmseg_sam_wsss::`` names."""
    missing = []
    for doc in DOCS:
        text = _read(doc)
        for path in re.findall(r'(?<![\w/.])configs/[\w/{},*.-]+\.py', text):
            for expanded in _expand_braces(path):
                if not glob.glob(osp.join(REPO_ROOT, expanded)):
                    missing.append((doc, expanded))
        for name in re.findall(r'mmseg_sam_wsss::([\w/.-]+\.py)', text):
            if not osp.isfile(osp.join(REPO_ROOT, 'configs', name)):
                missing.append((doc, 'mmseg_sam_wsss::' + name))
    assert not missing, missing


def _expand_braces(path: str) -> List[str]:
    match = re.search(r'\{([^{}]*)\}', path)
    if not match:
        return [path]
    return [expanded for choice in match.group(1).split(',')
            for expanded in _expand_braces(path[:match.start()] + choice + path[match.end():])]


def test_repository_files_exist():
    """Files of the repository the docs name: tests, package modules, setup and tool scripts."""
    missing = []
    for doc in DOCS:
        for span in code_spans(_read(doc)):
            for path in re.findall(r'(?<![\w/.])((?:tests|mmseg_sam_wsss|tools/setup)/[\w/]+'
                                   r'\.(?:py|sh|md))', span):
                if not osp.isfile(osp.join(REPO_ROOT, path)):
                    missing.append((doc, path))
    assert not missing, missing


def _makefile() -> Tuple[Set[str], Set[str]]:
    text = _read('Makefile')
    targets = set(re.findall(r'^([a-z][\w-]*):', text, re.M))
    variables = set(re.findall(r'^([A-Z_]+) \?=', text, re.M)) | set(
        re.findall(r'\$\(([A-Z_]+)\)', text))
    return targets, variables


def test_make_commands_exist():
    """``make TARGET VAR=...``: the target is a rule of the Makefile, each VAR one it reads."""
    targets, variables = _makefile()
    wrong = []
    for doc in DOCS:
        for span in code_spans(_read(doc)):
            tokens = words(span)
            for index, word in enumerate(tokens):
                if word != 'make' or index + 1 >= len(tokens):
                    continue
                target = tokens[index + 1]
                if re.fullmatch(r'[a-z]+', target) and target not in targets:
                    wrong.append((doc, f'make {target}'))
                for token in tokens[index + 1:]:
                    name = re.fullmatch(r'\[?([A-Z_]+)=.*', token)
                    if name and name.group(1) not in variables:
                        wrong.append((doc, f'make {target} {name.group(1)}='))
    assert not wrong, wrong


def _anchors(path: str) -> Set[str]:
    """GitHub's heading anchors of a markdown file."""
    anchors = set()
    for heading in re.findall(r'^#{1,6} (.+)$', re.sub(r'^```.*?^```', '', _read(path),
                                                     flags=re.M | re.S), re.M):
        slug = re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
        anchors.add(slug)
    return anchors


def test_links_resolve():
    """Relative links and images point at files that exist, and anchors at headings."""
    wrong = []
    for doc in DOCS:
        text = re.sub(r'^```.*?^```', '', _read(doc), flags=re.M | re.S)
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if re.match(r'[a-z]+://', target):
                continue
            path, _, anchor = target.partition('#')
            resolved = osp.normpath(osp.join(osp.dirname(doc), path)) if path else doc
            if not osp.exists(osp.join(REPO_ROOT, resolved)):
                wrong.append((doc, target, 'no such file'))
            elif anchor and anchor not in _anchors(resolved):
                wrong.append((doc, target, 'no such heading'))
    assert not wrong, wrong


def test_readme_is_the_front_door():
    """The README stays short and links every page of docs/."""
    readme = _read('README.md')
    assert len(readme.splitlines()) <= 320
    for doc in DOCS[1:]:
        assert f']({doc})' in readme, f'README.md does not link {doc}'
    first_screen = '\n'.join(readme.splitlines()[:12])
    assert 'make demo' in first_screen and 'make test' in first_screen
