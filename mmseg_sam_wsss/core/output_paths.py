"""Where per-id outputs go, and the list of what a tool wrote into its ``--out``.

Ids come from files a user may have downloaded (``--ids`` lists, click-JSON keys, COCO
``file_name``s, Cityscapes names), so an id becomes a path only through :func:`output_path`,
which refuses anything that would land outside ``--out``: ``..``, absolute paths, backslashes,
control characters, a slash where the tool does not document ``<city>/<frame>`` nesting, and
folders that are symbolic links leading out.

While a tool runs (:func:`start_listing`, called by ``OutputRecord.check_or_write``), every
file :func:`~mmseg_sam_wsss.core.io.atomic_write` puts inside ``--out`` is appended to
``<out>/.outputs`` (one relative path a line) *before* it is renamed into place, so a killed
run lists everything it may have written. ``--overwrite`` removes exactly the files listed
there (:func:`remove_listed_outputs`), never a user's own file, and refuses a list that is
malformed or names anything outside ``--out``. Pure Python; no mmseg.
"""
import contextlib
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Set

from ..errors import SamWsssError

MANIFEST_NAME = '.outputs'
LOCK_NAME = '.lock'
PROVENANCE_NAME = '.provenance.json'
#: Files of the bookkeeping itself, never listed as outputs and never removed by ``--overwrite``.
RESERVED_NAMES = (MANIFEST_NAME, LOCK_NAME, PROVENANCE_NAME)
_NAME_MAX = 255  # bytes in one path component (Linux, macOS)
_BAD_CHARACTER = re.compile('[\x00-\x1f\x7f\\\\]')  # control characters and backslashes


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _relative_problem(relative: str, max_parts: int) -> str:
    """Why ``relative`` is not a plain relative path of at most ``max_parts`` components
    ('' when it is one)."""
    if not isinstance(relative, str):
        return 'is not a string'
    if not relative:
        return 'is empty'
    bad = _BAD_CHARACTER.search(relative)
    if bad:
        return ('holds a backslash' if bad.group() == '\\' else
                'holds a control character (newline, NUL, ...)')
    if relative.startswith('/'):
        return 'is an absolute path'
    try:
        relative.encode('utf-8')
    except UnicodeEncodeError:
        return 'is not valid UTF-8'
    parts = relative.split('/')
    if '' in parts or '.' in parts or '..' in parts:
        return "has an empty, '.' or '..' component"
    if len(parts) > max_parts:
        return ('names a sub-folder' if max_parts == 1 else
                f'is nested more than {max_parts - 1} folder deep')
    if len(relative) > _NAME_MAX // 4 and max(
            len(part.encode('utf-8')) for part in parts) > _NAME_MAX:
        return f'has a component longer than {_NAME_MAX} bytes'
    return ''


def _id_problem(image_id: str, suffix: str, nested: bool) -> str:
    """Why ``image_id`` (and with ``suffix``) cannot name an output ('' when it can)."""
    max_parts = 2 if nested else 1
    problem = _relative_problem(image_id, max_parts)
    if not problem and not isinstance(suffix, str):
        problem = 'has a suffix that is not a string'
    problem = problem or _relative_problem(image_id + suffix, max_parts)
    if not problem and (image_id + suffix).split('/')[-1] in RESERVED_NAMES:
        problem = 'is a name the tools keep for themselves'
    return problem


def _escape_problem(out_dir: str, path: str, inside: Optional[Dict[str, bool]] = None,
                    check_link: bool = True) -> str:
    """Why ``path`` (lexically inside ``out_dir``) resolves outside it ('' when it does not):
    a folder on the way, or (with ``check_link``) the file itself, is a symbolic link leading
    out. ``inside`` caches, per folder, whether it resolves inside ``out_dir`` (long lists)."""
    inside = {} if inside is None else inside
    folder = osp.dirname(path)
    if folder not in inside:
        inside[folder] = _within(osp.realpath(folder), osp.realpath(out_dir))
    if not inside[folder]:
        return 'its folder is a symbolic link leading outside'
    if check_link and osp.islink(path) and not _within(osp.realpath(path),
                                                       osp.realpath(out_dir)):
        return 'it is a symbolic link leading outside'
    return ''


def output_path(out_dir: str, image_id: str, suffix: str = '', nested: bool = False,
                out_flag: str = '--out') -> str:
    """``<out_dir>/<image_id><suffix>``, checked to lie inside ``out_dir``.

    Args:
        out_dir (str): The output folder.
        image_id (str): The id, as read from an id list, a JSON key or a file name.
        suffix (str): Appended to the id (``'.png'``, ``'_conf.png'``). Default: ''.
        nested (bool): Allow one folder level (``<city>/<frame>``), for the tools that document
            it. Default: False.
        out_flag (str): The flag naming ``out_dir`` in messages. Default: ``'--out'``.

    Returns:
        str: ``osp.join(out_dir, image_id + suffix)``.

    Raises:
        SamWsssError: One line naming the id and why it cannot name a file inside ``out_dir``.
    """
    problem = _id_problem(image_id, suffix, nested)
    path = osp.join(out_dir, image_id + suffix) if not problem else ''
    problem = problem or _escape_problem(out_dir, path)
    if problem:
        allowed = 'a file name or <city>/<frame>' if nested else 'a file name, no folders'
        raise SamWsssError(f'id {image_id!r}: {problem}, so it would not write inside '
                           f'{out_flag} {out_dir}; an id must be {allowed}; fix the id list '
                           '(or the file it came from)')
    return path


def check_output_ids(out_dir: str, ids: Iterable[str], suffixes: Sequence[str] = ('', ),
                     nested: bool = False, folders: Sequence[str] = ('', ),
                     out_flag: str = '--out') -> None:
    """Check, before anything is written, that every ``<out_dir>/<folder>/<id><suffix>`` lies
    inside ``out_dir`` (see :func:`output_path`); a tool's one call for all its ids.

    Args:
        out_dir (str): The output folder.
        ids (Iterable[str]): The ids the tool will write outputs for.
        suffixes (Sequence[str]): The suffixes of its per-id outputs. Default: ``('',)``.
        nested (bool): Allow ``<city>/<frame>`` ids (one folder level). Default: False.
        folders (Sequence[str]): Fixed sub-folders the outputs go to (``'cams'``). Default:
            the top folder only.
        out_flag (str): The flag naming ``out_dir`` in messages. Default: ``'--out'``.

    Raises:
        SamWsssError: One line naming the first id that would not write inside ``out_dir``.
    """
    ids, real_out = list(ids), osp.realpath(out_dir)
    for folder in folders:
        base = osp.join(out_dir, folder) if folder else out_dir
        checked_parents = set()  # sub-folders of base whose real path was checked
        if not _within(osp.realpath(base), real_out):
            raise SamWsssError(f'{base}: is a symbolic link leading outside {out_flag} '
                               f'{out_dir}; remove it or pass another {out_flag}')
        for image_id in ids:
            for suffix in suffixes:
                problem = _id_problem(image_id, suffix, nested)
                relative = image_id + suffix if not problem else ''
                parent = osp.dirname(relative) if not problem else ''
                if problem or parent not in checked_parents or osp.islink(
                        osp.join(base, relative)):
                    output_path(base, image_id, suffix, nested, out_flag)  # raises when bad
                    checked_parents.add(parent)


# The output folders this process writes into: real path -> (folder as given, listed paths).
_LISTING: Dict[str, List] = {}


def manifest_path(out_dir: str) -> str:
    return osp.join(out_dir, MANIFEST_NAME)


def read_manifest(out_dir: str) -> List[str]:
    """The relative paths ``<out_dir>/.outputs`` lists, each checked to name a file inside
    ``out_dir`` (none when there is no list).

    Raises:
        SamWsssError: One line naming the list, the line and what is wrong with it.
    """
    path = manifest_path(out_dir)
    if not osp.isfile(path):
        if osp.lexists(path):
            raise SamWsssError(f'{path}: not a file; remove it or pass another --out')
        return []
    with open(path, 'rb') as handle:
        lines = handle.read().split(b'\n')
    listed, inside = [], {}
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        relative = os.fsdecode(line)
        problem = _relative_problem(relative, max_parts=64)
        if not problem and relative.split('/')[-1] in RESERVED_NAMES:
            problem = 'names the record itself'
        # a listed symbolic link itself is removed, never what it points to
        problem = problem or _escape_problem(out_dir, osp.join(out_dir, relative), inside,
                                             check_link=False)
        if problem:
            raise SamWsssError(f'{path}: line {number} {relative[:80]!r} {problem}, not a file '
                               f'inside {out_dir}; this list of written outputs was edited or '
                               'damaged: remove the folder yourself or pass another --out')
        listed.append(relative)
    return listed


def start_listing(out_dir: str) -> None:
    """From now on, list every file :func:`~mmseg_sam_wsss.core.io.atomic_write` puts inside
    ``out_dir`` in ``<out_dir>/.outputs`` (forked workers inherit this)."""
    real = osp.realpath(out_dir)
    if real not in _LISTING:
        _LISTING[real] = [out_dir, set(read_manifest(out_dir))]


def stop_listing(out_dir: str = None) -> None:
    """Stop listing the writes into ``out_dir`` (all folders when None)."""
    if out_dir is None:
        _LISTING.clear()
    else:
        _LISTING.pop(osp.realpath(out_dir), None)


def note_output(path: str) -> None:
    """Append ``path`` to the list of its output folder, if it lies in one being listed.

    Called by :func:`~mmseg_sam_wsss.core.io.atomic_write` before the rename, so a kill leaves
    at worst a listed path with no file (harmless), never a file that is not listed.
    """
    if not _LISTING:
        return
    folder = osp.realpath(osp.dirname(osp.abspath(path)))
    parts = [osp.basename(path)]
    while folder not in _LISTING:
        parent = osp.dirname(folder)
        if parent == folder:
            return
        parts.append(osp.basename(folder))
        folder = parent
    listed: Set[str] = _LISTING[folder][1]
    relative = '/'.join(reversed(parts))
    if relative in listed or (len(parts) == 1 and relative in RESERVED_NAMES):
        return
    line = os.fsencode(relative)
    if b'\n' in line:
        raise SamWsssError(f'{path}: an output name with a newline cannot be listed; rename it')
    descriptor = os.open(manifest_path(_LISTING[folder][0]),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(descriptor, line + b'\n')  # one write of one line: appends never interleave
    finally:
        os.close(descriptor)
    listed.add(relative)


def remove_listed_outputs(out_dir: str) -> int:
    """Remove the files ``<out_dir>/.outputs`` lists, the folders that leaves empty, and the
    list itself (all checked first: a bad list removes nothing).

    Returns:
        int: How many files were removed.
    """
    listed = read_manifest(out_dir)
    removed, folders = 0, set()
    for relative in listed:
        path = osp.join(out_dir, relative)
        if osp.islink(path) or osp.isfile(path):
            os.remove(path)
            removed += 1
        parts = relative.split('/')[:-1]
        folders.update('/'.join(parts[:end]) for end in range(1, len(parts) + 1))
    for folder in sorted(folders, key=lambda name: name.count('/'), reverse=True):
        with contextlib.suppress(OSError):  # not empty: something else lives there
            os.rmdir(osp.join(out_dir, folder))
    with contextlib.suppress(FileNotFoundError):
        os.remove(manifest_path(out_dir))
    real = osp.realpath(out_dir)
    if real in _LISTING:
        _LISTING[real][1].clear()
    return removed
