"""What every offline tool shares: common flags, numeric options with checked ranges, one-line
errors, ``--skip-bad`` tallies and exit codes, resumable per-id loops with a progress bar, and
rank sharding under torchrun.

Exit codes of every tool: 0 all done; 2 stopped with a one-line error (bad input without
``--skip-bad``, bad option, unwritable output); 3 finished under ``--skip-bad`` with bad inputs
skipped and counted (every good input was written); 130 interrupted. Imports neither mmseg nor
mmcv, so the SAM tools run on a bare GPU machine.
"""
import argparse
import ast
import json
import math
import os
import re
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

from tqdm import tqdm

from ..core.io import OutputWriteError, list_ids, read_ids
from ..errors import SamWsssError
from .provenance import release_output_folders

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_SKIPPED_BAD = 3
EXIT_INTERRUPTED = 130
# Set by a pipeline driver for one stage: JSON ``{tool flag: pipeline flag}``; ``run_tool``
# names the pipeline's flags in the error line (``--model-type`` -> ``--sam-model-type``).
FLAG_NAMES_ENV = 'MMSEG_SAM_WSSS_FLAG_NAMES'


class DefaultsHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` shows every option's default, unless its help already says it (a
    ``default`` word), and keeps the description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ''
        if ('%(default)' in text or 'default' in text.lower() or action.default in (
                None, False, argparse.SUPPRESS, []) or not action.option_strings):
            return text
        return f'{text} (default: %(default)s)'.strip()


class NumberRange:
    """An argparse ``type=`` that parses an int or float and checks it lies in a range.

    Args:
        kind (type): ``int`` or ``float``.
        low (float, optional): Smallest allowed value (None: no bound).
        high (float, optional): Largest allowed value (None: no bound).
        low_open (bool): ``low`` itself is not allowed (``> low``). Default: False.
        note (str): Said after the range in the error, e.g. what 0 means. Default: ''.
    """

    def __init__(self, kind: type, low: Optional[float] = None, high: Optional[float] = None,
                 low_open: bool = False, note: str = '') -> None:
        self.kind, self.low, self.high, self.low_open, self.note = kind, low, high, low_open, note
        self.__name__ = kind.__name__  # argparse names the type in its messages

    @property
    def text(self) -> str:
        """The range as help text, e.g. ``1..64``, ``> 0``, ``>= 0``, ``> 0 and <= 8``."""
        low = None if self.low is None else f'{">" if self.low_open else ">="} {self.low}'
        if self.low is not None and self.high is not None:
            return f'{low} and <= {self.high}' if self.low_open else f'{self.low}..{self.high}'
        if low is not None:
            return low
        return f'<= {self.high}' if self.high is not None else 'any'

    @property
    def what(self) -> str:
        return 'an integer' if self.kind is int else 'a number'

    def check(self, value: Union[int, float], name: str) -> Union[int, float]:
        """``value`` if in range, else :class:`SamWsssError` naming ``name`` and the range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                self.kind is int and not float(value).is_integer()):
            raise SamWsssError(f'{name}: {value!r} is not {self.what} (range {self.text})')
        if math.isnan(value) or (self.low is not None and (
                value < self.low or (self.low_open and value == self.low))) or (
                self.high is not None and value > self.high):
            note = f'; {self.note}' if self.note else ''
            raise SamWsssError(f'{name}: {value} is outside its range {self.text}{note}')
        return self.kind(value)

    def __call__(self, text: str) -> Union[int, float]:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not {self.what} (range {self.text})') from None
        try:
            return self.check(value, 'value')
        except SamWsssError as error:
            raise argparse.ArgumentTypeError(str(error).replace('value: ', '', 1)) from None

    def __repr__(self) -> str:
        return f'{self.kind.__name__}_in({self.text})'


def int_in(low: Optional[int] = None, high: Optional[int] = None, note: str = '') -> NumberRange:
    """argparse ``type=`` for an integer in ``low..high`` (None: unbounded on that side)."""
    return NumberRange(int, low, high, note=note)


def float_in(low: Optional[float] = None, high: Optional[float] = None, low_open: bool = False,
             note: str = '') -> NumberRange:
    """argparse ``type=`` for a float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    return NumberRange(float, low, high, low_open, note)


# Shared ranges: the same option has the same range in every tool.
WORKERS = int_in(1, 64)
NUM_CLASSES = int_in(2, 255, 'labels are uint8 and 255 means ignore')
SEED = int_in(0, 2 ** 32 - 1)
RATIO = float_in(0.0, 1.0)


def document_ranges(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Append ``(range: ...)`` to the help of every option with a :class:`NumberRange` type,
    and show every default (:class:`DefaultsHelpFormatter`), in ``parser`` and its
    sub-commands; returns ``parser``."""
    parser.formatter_class = DefaultsHelpFormatter
    for action in parser._actions:
        if not action.help and action.option_strings and action.default not in (
                None, False, argparse.SUPPRESS, []):
            action.help = '(default: %(default)s)'  # argparse shows no line for no help
        if isinstance(action.type, NumberRange) and action.help != argparse.SUPPRESS:
            action.help = f'{action.help or ""} (range: {action.type.text})'.strip()
        if isinstance(action, argparse._SubParsersAction):
            for sub_parser in action.choices.values():
                document_ranges(sub_parser)
    return parser


def unranged_numeric_options(parser: argparse.ArgumentParser) -> List[str]:
    """The options of ``parser`` (and its sub-commands) typed plain ``int``/``float``: each
    should have a :class:`NumberRange` instead."""
    found = []
    for action in parser._actions:
        if action.type in (int, float):
            found.append('/'.join(action.option_strings) or action.dest)
        if isinstance(action, argparse._SubParsersAction):
            for sub_parser in action.choices.values():
                found += unranged_numeric_options(sub_parser)
    return found


def add_common_args(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    """Add the flags every per-image tool takes: ``--ids``, ``--skip-bad``, ``--workers``."""
    parser.add_argument('--ids', help='file with one image id per line (default: all found)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='log bad inputs, keep going and report the counts at the end '
                        '(default: stop at the first bad input)')
    if workers:
        parser.add_argument('--workers', type=WORKERS, default=1,
                            help='worker processes (default: 1)')


def add_overwrite_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--overwrite`` to a tool that resumes into ``--out`` (see ``utils/provenance.py``)."""
    parser.add_argument('--overwrite', action='store_true',
                        help='remove the outputs recorded in OUT/.provenance.json and write '
                        'anew (default: resume when OUT was made with the same inputs and '
                        'settings, refuse otherwise)')


def parse_key_values(items: Sequence[str], flag: str,
                     allowed: Optional[Sequence[str]] = None, owner: str = '') -> dict:
    """``KEY=VALUE`` items of ``flag`` as a dict, the values as Python literals (numbers, bools).

    With ``allowed``, any other key is an error that lists them (``owner`` says whose they are).
    """
    options = {}
    for item in items:
        key, sep, text = item.partition('=')
        if not sep or not key or (allowed is not None and key not in allowed):
            expected = '' if allowed is None else \
                f' with KEY one of {", ".join(allowed)}{owner}'
            raise SamWsssError(f'{flag} {item!r}: expected KEY=VALUE{expected}')
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError) as error:
            raise SamWsssError(f'{flag} {item!r}: {text!r} is not a number, bool or other '
                               'Python literal') from error
    return options


def resolve_ids(ids_file: Optional[str], directory: str, suffix: str) -> List[str]:
    """The ids from ``--ids``, or every ``<id><suffix>`` in ``directory``."""
    return read_ids(ids_file) if ids_file else list_ids(directory, suffix)


def dist_rank_world(rendezvous: bool = False) -> Tuple[int, int]:
    """``(rank, world_size)`` from torchrun's environment, ``(0, 1)`` without it.

    Args:
        rendezvous (bool): The tool starts a process group when ``WORLD_SIZE > 1``, so
            ``MASTER_ADDR`` and ``MASTER_PORT`` must be set too.

    Raises:
        SamWsssError: For non-integer values, ``WORLD_SIZE < 1``, ``RANK`` outside
            ``0..WORLD_SIZE-1`` (a process group would wait forever for the missing rank), or a
            missing rendezvous address.
    """
    values = {}
    for name, default in (('RANK', '0'), ('WORLD_SIZE', '1')):
        text = os.environ.get(name, default).strip()
        if not text.isdigit():
            raise SamWsssError(f'{name}={text!r} is not a non-negative integer; launch with '
                               'torchrun, or unset RANK and WORLD_SIZE for one process')
        values[name] = int(text)
    rank, world_size = values['RANK'], values['WORLD_SIZE']
    if world_size < 1 or rank >= world_size:
        raise SamWsssError(f'RANK={rank} with WORLD_SIZE={world_size}: RANK must be in '
                           f'0..WORLD_SIZE-1; launch with torchrun, or unset both')
    if rendezvous and world_size > 1:
        missing = [name for name in ('MASTER_ADDR', 'MASTER_PORT') if not os.environ.get(name)]
        if missing:
            raise SamWsssError(f'WORLD_SIZE={world_size} but {" and ".join(missing)} not set; '
                               'launch with torchrun (it sets them), or unset RANK and '
                               'WORLD_SIZE for one process')
    return rank, world_size


def shard(ids: Sequence[str], rank: int, world_size: int) -> List[str]:
    """This rank's share of ``ids``: every ``world_size``-th id from ``rank``.

    The shards of all ranks are disjoint and together cover ``ids`` exactly once.
    """
    if not 0 <= rank < world_size:
        raise SamWsssError(f'rank {rank} is outside 0..{world_size - 1}; check RANK/WORLD_SIZE')
    return list(ids[rank::world_size])


class BadInputTally:
    """Counts outputs done, skipped as finished, and bad, and says so at the end."""

    def __init__(self, skip_bad: bool) -> None:
        self.skip_bad = skip_bad
        self.done = 0
        self.skipped = 0
        self.bad: List[str] = []

    def record_bad(self, error: SamWsssError, prefix: str = '[skip-bad]') -> None:
        """Re-raise ``error`` unless ``--skip-bad``; then log it and count it.

        An :class:`~mmseg_sam_wsss.core.io.OutputWriteError` (read-only or full output) is
        always re-raised: it is not a bad input, and every later output would fail the same way.
        """
        if not self.skip_bad or isinstance(error, OutputWriteError):
            raise error
        self.bad.append(str(error))
        tqdm.write(f'{prefix} {error}', file=sys.stderr)

    def summary(self) -> str:
        return (f'{self.done} written, {self.skipped} already done (skipped), '
                f'{len(self.bad)} bad')

    def exit_code(self) -> int:
        """:data:`EXIT_SKIPPED_BAD` (3) when ``--skip-bad`` skipped bad inputs, else 0."""
        return EXIT_SKIPPED_BAD if self.bad else EXIT_OK


def run_per_id(ids: Sequence[str], process: Callable[[str], Optional[str]],
               is_done: Callable[[str], bool], tally: BadInputTally, desc: str,
               workers: int = 1, unit: str = 'img',
               on_result: Optional[Callable[[str, object], None]] = None) -> BadInputTally:
    """Run ``process(id)`` for every id whose output is not done yet, with a progress bar.

    ``process`` writes its own output atomically and raises :class:`SamWsssError` for bad input.
    With ``workers > 1`` it must be a picklable top-level function (or ``functools.partial``).
    ``on_result(id, value)`` receives what ``process`` returned (e.g. counts for a summary).
    """
    todo = []
    for image_id in ids:
        if is_done(image_id):
            tally.skipped += 1
        else:
            todo.append(image_id)
    # The bar is closed even when an error stops the loop, so the error line stands on its own.
    with tqdm(total=len(todo), desc=desc, unit=unit, dynamic_ncols=True) as progress:
        if workers <= 1:
            for image_id in todo:
                try:
                    value = process(image_id)
                    tally.done += 1
                    if on_result is not None:
                        on_result(image_id, value)
                except SamWsssError as error:
                    tally.record_bad(error)
                progress.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for image_id, (value, error) in zip(todo, pool.map(
                        _call_catching, [process] * len(todo), todo, chunksize=4)):
                    if error is None:
                        tally.done += 1
                        if on_result is not None:
                            on_result(image_id, value)
                    else:
                        tally.record_bad(error)
                    progress.update(1)
    return tally


def _call_catching(process: Callable[[str], Optional[str]],
                   image_id: str) -> Tuple[object, Optional[SamWsssError]]:
    try:
        return process(image_id), None
    except SamWsssError as error:
        return None, error


def run_tool(main: Callable[[], Optional[int]]) -> None:
    """Run a tool's ``main``; :class:`SamWsssError` (and any ``OSError`` a tool did not name)
    becomes one line on stderr and exit 2 (see the module docstring for all exit codes)."""
    try:
        try:
            code = main()
        finally:  # the run is over: its --out is free for the next one
            release_output_folders()
    except SamWsssError as error:
        print(f'error: {pipeline_flag_names(str(error))}', file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except OSError as error:  # the file system, not the code: a read-only or full disk
        print(f'error: {pipeline_flag_names(str(error))}; check the path, its permissions and '
              'the free disk space', file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        print('interrupted; finished outputs are kept, rerun to resume', file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or EXIT_OK)


def pipeline_flag_names(message: str) -> str:
    """``message`` with the tool's flags named as the pipeline that runs it names them
    (:data:`FLAG_NAMES_ENV`); unchanged outside a pipeline."""
    try:
        names = json.loads(os.environ.get(FLAG_NAMES_ENV) or '{}')
    except ValueError:
        return message
    for flag, name in names.items() if isinstance(names, dict) else ():
        message = re.sub(rf'(?<![\w-]){re.escape(flag)}(?![\w-])', str(name), message)
    return message


def check_checkpoint_file(path: Optional[str], flag: str = '--checkpoint') -> None:
    """Raise one line unless ``path`` is a readable PyTorch checkpoint file.

    Checks the container without unpickling it: a ``torch.save`` zip archive with its
    ``data.pkl`` record (complete, so a truncated download fails), or a legacy pickle. URLs
    (``https://...``) are left to the loader.
    """
    if not path or '://' in path:
        return
    if not os.path.isfile(path):
        raise SamWsssError(f'{path}: {flag} not found; pass the .pth file of a trained model')
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if any(name.endswith('/data.pkl') or name == 'data.pkl'
                       for name in archive.namelist()):
                    return
        else:
            with open(path, 'rb') as handle:
                if handle.read(1) == b'\x80':  # pickle protocol >= 2 (legacy torch.save)
                    return
    except (OSError, zipfile.BadZipFile) as error:
        raise SamWsssError(f'{path}: cannot read {flag} ({error}); download or copy it '
                           'again') from error
    raise SamWsssError(f'{path}: {flag} is not a PyTorch checkpoint (no torch.save archive); '
                       'it may be truncated or another file; download or copy it again')


def iter_progress(items: Iterable, desc: str, total: Optional[int] = None, unit: str = 'img'):
    """A tqdm progress bar with the project's settings."""
    return tqdm(items, desc=desc, total=total, unit=unit, dynamic_ncols=True)
