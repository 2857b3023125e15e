"""Options of a tool passed through the pipeline (``--sam-args``/``SAM_ARGS`` to
``tools/generate_sam_masks.py``, ``--sesam-args``/``SESAM_ARGS`` to
``tools/sesam_pseudo_labels.py``), checked with the tool's own parser before any stage runs.

Flags that the pipeline sets itself (inputs, outputs, the model, the seed) are refused with the
pipeline's flag to use instead; every other flag must be one of ``ALLOWED``'s.
"""
import contextlib
import importlib.util
import io
import os.path as osp
import shlex
from typing import Dict, List, Sequence

from ..errors import SamWsssError
from .common import REPO_ROOT

# Per pass-through flag: the tool, the flags it may carry, dummy arguments for the tool's
# parser (its required inputs), and the pipeline's own flag for what the pipeline sets.
SAM_ARGS = '--sam-args'
SESAM_ARGS = '--sesam-args'
TOOLS = {
    SAM_ARGS: dict(
        tool='generate_sam_masks', env='SAM_ARGS',
        allowed=('--points-per-side', '--points-per-batch', '--pred-iou-thresh',
                 '--stability-score-thresh', '--box-nms-thresh', '--crop-n-layers',
                 '--min-mask-region-area', '--image-batch-size', '--amp', '--device',
                 '--max-pixels'),
        dummy=['--img-dir', '.', '--out', '.', '--random-init-for-tests']),
    SESAM_ARGS: dict(
        tool='sesam_pseudo_labels', env='SESAM_ARGS',
        allowed=('--points-per-component', '--negative-points', '--penalty', '--min-score',
                 '--min-area', '--unlabelled', '--background-index', '--prompt-batch-size',
                 '--device', '--pred-classes', '--pred-min-area', '--previous'),
        dummy=['--img-dir', '.', '--weak-dir', '.', '--out', '.', '--source', 'oracle',
               '--gt-dir', '.']),
}
# The tools' flags that the pipeline sets, and how a user sets them there.
PIPELINE_FLAGS = {
    '--model-type': '--sam-model-type (SAM_MODEL_TYPE)',
    '--checkpoint': '--sam-checkpoint (SAM_CHECKPOINT)',
    '--random-init-for-tests': '--sam-checkpoint (SAM_CHECKPOINT)',
    '--seed': '--seed', '--workers': '--workers', '--conf-thresh': '--conf-thresh',
    '--round': '--rounds (ROUNDS)', '--rounds': '--rounds (ROUNDS)',
}


def load_tool_module(name: str):
    """``tools/<name>.py`` of the checkout, imported as a module (for its parser)."""
    spec = importlib.util.spec_from_file_location(f'_pipeline_{name}',
                                                  osp.join(REPO_ROOT, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_tool_args(flag: str, text: str) -> List[str]:
    """The options in ``text`` (shell words) for the tool of ``flag``, checked.

    Raises:
        SamWsssError: One line naming the bad option: one the pipeline sets (with the
            pipeline's flag to use), one the tool does not pass through, or a value the tool's
            parser refuses (its own message).
    """
    spec = TOOLS[flag]
    where = f'{flag} ({spec["env"]}) {text!r}'
    try:
        words = shlex.split(text or '')
    except ValueError as error:
        raise SamWsssError(f'{where}: {error}; quote it as shell words') from error
    for word in words:
        if not word.startswith('-') or _is_number(word):
            continue
        name = word.split('=', 1)[0]
        if name in PIPELINE_FLAGS:
            raise SamWsssError(f'{where}: {name} is set by the pipeline; use its '
                               f'{PIPELINE_FLAGS[name]}')
        if name not in spec['allowed']:
            raise SamWsssError(f'{where}: {name} is not an option passed to tools/'
                               f'{spec["tool"]}.py; use one of {", ".join(spec["allowed"])}')
    module = load_tool_module(spec['tool'])
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            module.parse_args(spec['dummy'] + words)
    except SystemExit:
        lines = [line for line in stderr.getvalue().splitlines() if 'error:' in line]
        reason = lines[-1].split('error:', 1)[1].strip() if lines else 'refused'
        raise SamWsssError(f'{where}: {reason} (tools/{spec["tool"]}.py --help lists its '
                           'options)') from None
    return words


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def resolve_tool_args(args) -> Dict[str, List[str]]:
    """Check ``--sam-args`` and ``--sesam-args`` against the run (SAM masks need
    ``--sam-checkpoint`` and no ``--weak``; SeSAM's need ``--weak``) and their tools' parsers;
    sets ``args.sam_tool_args`` and ``args.sesam_tool_args`` (lists of words)."""
    if args.sam_args and not args.sam_checkpoint:
        raise SamWsssError(f'{SAM_ARGS} {args.sam_args!r}: SAM\'s mask generator runs only with '
                           '--sam-checkpoint (SAM_CHECKPOINT); without it the GT oracle stands '
                           'in (not SAM); pass one or drop SAM_ARGS')
    if args.sam_args and args.weak:
        raise SamWsssError(f'{SAM_ARGS} {args.sam_args!r}: the SeSAM path (--weak) prompts SAM '
                           'from the weak labels and runs no automatic mask generator; use '
                           f'{SESAM_ARGS} (SESAM_ARGS)')
    if args.sesam_args and not args.weak:
        raise SamWsssError(f'{SESAM_ARGS} {args.sesam_args!r}: SeSAM runs only with --weak '
                           'point|scribble|coarse (WEAK=...); the SEPL path takes '
                           f'{SAM_ARGS} (SAM_ARGS)')
    args.sam_tool_args = check_tool_args(SAM_ARGS, args.sam_args)
    args.sesam_tool_args = check_tool_args(SESAM_ARGS, args.sesam_args)
    return {'sam_args': args.sam_tool_args, 'sesam_args': args.sesam_tool_args}


def shell_words(words: Sequence[str]) -> str:
    return ' '.join(shlex.quote(word) for word in words) or '(defaults)'
