"""What every offline tool shares: common flags, one-line errors, ``--skip-bad`` tallies,
resumable per-id loops with a progress bar, and rank sharding under torchrun.

Imports neither mmseg nor mmcv, so the SAM tools run on a bare GPU machine.
"""
import argparse
import ast
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from tqdm import tqdm

from ..core.io import list_ids, read_ids
from ..errors import SamWsssError


def add_common_args(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    """Add the flags every per-image tool takes: ``--ids``, ``--skip-bad``, ``--workers``."""
    parser.add_argument('--ids', help='file with one image id per line (default: all found)')
    parser.add_argument('--skip-bad', action='store_true',
                        help='log bad inputs, keep going and report the counts at the end '
                        '(default: stop at the first bad input)')
    if workers:
        parser.add_argument('--workers', type=int, default=1,
                            help='worker processes (default: 1)')


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


def dist_rank_world() -> Tuple[int, int]:
    """``(rank, world_size)`` from torchrun's environment, ``(0, 1)`` without it."""
    return int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))


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

    def record_bad(self, error: SamWsssError) -> None:
        """Re-raise ``error`` unless ``--skip-bad``; then log it and count it."""
        if not self.skip_bad:
            raise error
        self.bad.append(str(error))
        tqdm.write(f'[skip-bad] {error}', file=sys.stderr)

    def summary(self) -> str:
        return (f'{self.done} written, {self.skipped} already done (skipped), '
                f'{len(self.bad)} bad')


def run_per_id(ids: Sequence[str], process: Callable[[str], Optional[str]],
               is_done: Callable[[str], bool], tally: BadInputTally, desc: str,
               workers: int = 1, unit: str = 'img') -> BadInputTally:
    """Run ``process(id)`` for every id whose output is not done yet, with a progress bar.

    ``process`` writes its own output atomically and raises :class:`SamWsssError` for bad input.
    With ``workers > 1`` it must be a picklable top-level function (or ``functools.partial``).
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
                    process(image_id)
                    tally.done += 1
                except SamWsssError as error:
                    tally.record_bad(error)
                progress.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for error in pool.map(_call_catching, [process] * len(todo), todo, chunksize=4):
                    if error is None:
                        tally.done += 1
                    else:
                        tally.record_bad(error)
                    progress.update(1)
    return tally


def _call_catching(process: Callable[[str], Optional[str]], image_id: str) -> Optional[SamWsssError]:
    try:
        process(image_id)
    except SamWsssError as error:
        return error
    return None


def run_tool(main: Callable[[], Optional[int]]) -> None:
    """Run a tool's ``main`` and turn :class:`SamWsssError` into one line on stderr and exit 2."""
    try:
        code = main()
    except SamWsssError as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print('interrupted; finished outputs are kept, rerun to resume', file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def iter_progress(items: Iterable, desc: str, total: Optional[int] = None, unit: str = 'img'):
    """A tqdm progress bar with the project's settings."""
    return tqdm(items, desc=desc, total=total, unit=unit, dynamic_ncols=True)
