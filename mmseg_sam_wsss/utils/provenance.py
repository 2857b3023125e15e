"""What an output folder was made from, so a rerun resumes only what the same run would write.

Every tool that resumes (skips outputs that exist) writes ``<out>/.provenance.json`` before its
first output: the tool, the package version, its inputs (paths, and the identity of inputs that
have one: a mask store's uid, another tool's record, a checkpoint's size and digest) and the
settings that change the outputs. A rerun compares:

* no record and no outputs: a new folder, the record is written;
* the same record: resume, finished outputs are skipped;
* anything different (or outputs with no record): refused with one line naming what differs
  and the way out (``--overwrite``, which removes the recorded outputs first, or a new
  ``--out``). Outputs of two different runs are never mixed.

What a run wrote is listed, as it writes, in ``<out>/.outputs`` (``core/output_paths.py``);
``--overwrite`` removes exactly those files, never one the record's patterns merely match (a
user's ``figure.png``), and refuses a list or record that is malformed or points outside
``--out``. One run at a time: rank 0 (or the only process) holds an OS lock on
``<out>/.lock`` (released when it exits or is killed) naming its pid, host, tool and start
time; a second run into the same ``--out`` is refused with one line naming that holder.

``--out`` may not be an input folder, lie inside one, or contain one. Pure Python; no mmseg.

Example::

    record = OutputRecord(args.out, 'make_weak_labels', inputs={'--gt': args.gt},
                          settings=dict(weak_type=args.weak_type, seed=args.seed),
                          outputs=['*.png', '*.json'])
    record.check_or_write(overwrite=args.overwrite, rank=rank, world_size=world_size)
"""
import contextlib
import datetime
import errno
import fcntl
import glob
import hashlib
import json
import os
import os.path as osp
import socket
import time
import uuid
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

from ..core.io import atomic_write, remove_stale_temporaries
from ..core.output_paths import (LOCK_NAME, PROVENANCE_NAME, RESERVED_NAMES, read_manifest,
                                 remove_listed_outputs, start_listing, stop_listing)
from ..errors import SamWsssError
from ..version import __version__

# Format 2 lists what was written in ``.outputs``; format 1 (older versions) did not, so its
# outputs are known only by pattern and --overwrite refuses it rather than guess.
RECORD_FORMAT = 2
# Fields of a record and the JSON types each may have (None: absent or null).
_RECORD_FIELDS = {'format': int, 'tool': str, 'version': str, 'uid': str, 'inputs': dict,
                  'settings': dict, 'outputs': list, 'created': str}
# Keys of an input's identity that say what it holds, whatever its path: when both records have
# one, the path may change (a moved store, a copied checkpoint) without a refusal.
CONTENT_KEYS = ('uid', 'digest', 'made_by')
_DIGEST_BYTES = 1 << 20
_MAX_SHOWN = 60


def file_identity(path: str) -> Dict:
    """``{'path', 'size', 'digest'}`` of a file: SHA-256 of its size, first and last MiB.

    Cheap for multi-GB checkpoints, and it changes when a checkpoint is retrained or replaced.
    """
    size = osp.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, 'rb') as handle:
        digest.update(handle.read(_DIGEST_BYTES))
        if size > 2 * _DIGEST_BYTES:
            handle.seek(size - _DIGEST_BYTES)
            digest.update(handle.read(_DIGEST_BYTES))
    return {'path': osp.realpath(path), 'size': size, 'digest': digest.hexdigest()[:16]}


def input_identity(path: str) -> Dict:
    """What ``path`` is, for a record: its real path, and for a folder made by one of our tools
    (its own ``.provenance.json``, or its parent's when that names it) that record's uid; for a
    file, :func:`file_identity`."""
    real = osp.realpath(path)
    if osp.isfile(real):
        return file_identity(real)
    identity = {'path': real}
    for folder, sub in ((real, ''), (osp.dirname(real), osp.basename(real))):
        record = read_record(folder)
        if record is not None and (not sub or any(
                pattern.split('/')[0] == sub for pattern in record.get('outputs', []))):
            identity['made_by'] = {'tool': record.get('tool'), 'uid': record.get('uid')}
            break
    return identity


def read_record(folder: str) -> Optional[Dict]:
    """The record of ``folder`` (a dict), or None when there is none."""
    path = osp.join(folder, PROVENANCE_NAME)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as handle:
            record = json.load(handle)
    except (OSError, ValueError, RecursionError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise SamWsssError(f'{path}: cannot read ({reason}); delete the folder or pass a new '
                           '--out') from error
    problem = _record_problem(record)
    if problem:
        raise SamWsssError(f'{path}: not a provenance record ({problem}); it was edited or '
                           'damaged: delete the folder or pass a new --out')
    return record


def _record_problem(record) -> str:
    """What is wrong with the shape of a record read from JSON ('' when nothing)."""
    if not isinstance(record, dict):
        return f'a {type(record).__name__}, not an object'
    for key, kind in _RECORD_FIELDS.items():
        value = record.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return f'{key} is not a{"n" if kind in (int, ) else ""} {kind.__name__}'
    if not all(isinstance(pattern, str) for pattern in record.get('outputs') or []):
        return 'outputs holds a non-string'
    if not all(isinstance(identity, dict) for identity in (record.get('inputs') or {}).values()):
        return 'an input is not an object'
    return ''


def _normalise(value):
    """``value`` as JSON would give it back (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _flatten(value, prefix: str = '') -> Dict[str, object]:
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f'{prefix}.{key}' if prefix else str(key)))
        return flat
    return {prefix: value}


_UNSET = '(unset)'


def _shown(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + '...'


def same_input(old: Optional[Dict], new: Optional[Dict]) -> bool:
    """Whether two input identities name the same content (see :data:`CONTENT_KEYS`)."""
    if old is None or new is None:
        return old is new
    content = [key for key in CONTENT_KEYS if key in old or key in new]
    if content:
        return all(old.get(key) == new.get(key) for key in content)
    return old == new


def describe_differences(old: Mapping, new: Mapping) -> List[str]:
    """``'what: old -> new'`` for everything that differs between two records."""
    changes = []
    for key in ('tool', 'version'):
        if old.get(key) != new.get(key):
            changes.append(f'{key}: {old.get(key)} -> {new.get(key)}')
    old_inputs, new_inputs = old.get('inputs', {}) or {}, new.get('inputs', {}) or {}
    for name in sorted(set(old_inputs) | set(new_inputs)):
        before, after = old_inputs.get(name), new_inputs.get(name)
        if same_input(before, after):
            continue
        if before and after and before.get('path') == after.get('path'):
            changes.append(f'{name}: {after.get("path")} changed since (other content)')
        else:
            changes.append(f'{name}: {_shown((before or {}).get("path"))} -> '
                           f'{_shown((after or {}).get("path"))}')
    old_settings = _flatten(old.get('settings', {}) or {})
    new_settings = _flatten(new.get('settings', {}) or {})
    # Top-level settings first (the protocol before its options), then alphabetically.
    for key in sorted(set(old_settings) | set(new_settings), key=lambda k: (k.count('.'), k)):
        if old_settings.get(key, _UNSET) != new_settings.get(key, _UNSET):
            changes.append(f'{key}: {_shown(old_settings.get(key, _UNSET))} -> '
                           f'{_shown(new_settings.get(key, _UNSET))}')
    return changes


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_separate(out: str, inputs: Mapping[str, Union[str, Dict, None]],
                   out_flag: str = '--out', outputs: Sequence[str] = ()) -> None:
    """Refuse an ``out`` folder that is an input folder, lies inside one or contains one.

    An input *file* (a checkpoint, a config) may lie inside ``out`` unless an output pattern
    would match it (``--overwrite`` would remove it).
    """
    real_out = osp.realpath(out)
    for name, value in inputs.items():
        path = value.get('path') if isinstance(value, dict) else value
        if not path:
            continue
        real = osp.realpath(path)
        if osp.isfile(real):
            if real == real_out or any(_within(real, match) for match in _expand(out, outputs)):
                raise SamWsssError(f'{out_flag} {out}: would overwrite the input {name} {path}; '
                                   f'choose a separate {out_flag}')
            continue
        if _within(real_out, real):
            where = 'is' if real_out == real else 'lies inside'
            raise SamWsssError(f'{out_flag} {out} {where} the input folder {name} {path}, so '
                               f'the inputs would pass for results; choose a separate '
                               f'{out_flag}')
        if _within(real, real_out):
            raise SamWsssError(f'{out_flag} {out} contains the input folder {name} {path}; '
                               f'choose a separate {out_flag}')


def _expand(out: str, patterns: Sequence[str]) -> List[str]:
    found = []
    for pattern in patterns:
        found += [osp.realpath(path) for path in glob.glob(osp.join(glob.escape(out), pattern))]
    return found


def id_output_patterns(ids: Sequence[str], suffixes: Sequence[str]) -> List[str]:
    """Glob patterns of per-id outputs ``<id><suffix>``: the top folder's, and one per folder
    the ids name (Cityscapes' ``<city>/<frame>``), so unrecorded outputs there are seen too."""
    folders = [''] + sorted({osp.dirname(image_id) for image_id in ids} - {''})
    return [osp.join(glob.escape(folder), '*' + suffix)
            for folder in folders for suffix in suffixes]


class OutputRecord:
    """The record of one output folder: tool, version, inputs, settings and output patterns.

    Args:
        out_dir (str): The output folder (``--out``).
        tool (str): The tool's name, e.g. ``'make_weak_labels'``.
        inputs (dict): Flag -> path (or an identity dict with ``'path'``, e.g. a mask store's
            ``MaskStore.identity()``); None values are left out. Folders are compared by path
            and the record of the tool that made them; files by content.
        settings (dict): Everything else that changes the outputs (JSON-serialisable; nested
            dicts are compared key by key). Leave out what only changes speed or which ids run.
        outputs (Sequence[str]): Glob patterns of the outputs, relative to ``out_dir``
            (``'*.png'``, ``'cams/*.npz'``): files they match in a folder with no record are
            refused. ``--overwrite`` removes what the run listed as written, not what they
            match.
        out_flag (str): The flag naming ``out_dir`` in messages. Default: ``'--out'``.
    """

    def __init__(self, out_dir: str, tool: str, inputs: Mapping[str, Union[str, Dict, None]],
                 settings: Mapping, outputs: Sequence[str], out_flag: str = '--out') -> None:
        self.out_dir, self.tool, self.out_flag = out_dir, tool, out_flag
        self.outputs = list(outputs)
        self.input_paths = {name: value for name, value in inputs.items() if value is not None}
        self.inputs = _normalise({
            name: dict(value) if isinstance(value, dict) else input_identity(value)
            for name, value in self.input_paths.items()})
        self.settings = _normalise(dict(settings))
        self.uid: Optional[str] = None

    @property
    def path(self) -> str:
        return osp.join(self.out_dir, PROVENANCE_NAME)

    def as_dict(self) -> Dict:
        return {'format': RECORD_FORMAT, 'tool': self.tool, 'version': __version__,
                'uid': self.uid, 'inputs': self.inputs, 'settings': self.settings,
                'outputs': self.outputs}

    def differences(self, record: Mapping) -> List[str]:
        """What differs between ``record`` (read from disk) and this one."""
        return describe_differences(record, self.as_dict())

    def existing_outputs(self, patterns: Optional[Sequence[str]] = None) -> List[str]:
        """Files under ``out_dir`` matching ``patterns`` (default: this record's)."""
        found = set()
        for pattern in self.outputs if patterns is None else patterns:
            found.update(path for path in glob.glob(osp.join(glob.escape(self.out_dir), pattern))
                         if osp.isfile(path) and osp.basename(path) not in RESERVED_NAMES)
        return sorted(found)

    def check_or_write(self, overwrite: bool = False, rank: int = 0, world_size: int = 1,
                       barrier: Optional[Callable[[], None]] = None,
                       wait_s: float = 600.0) -> 'OutputRecord':
        """Check ``out_dir`` against this record; write it when new (or with ``overwrite``).

        Rank 0 takes the folder's lock (:func:`lock_output_folder`), decides and writes. With
        ``barrier`` (a process group) the other ranks check after it; without one they wait up
        to ``wait_s`` for the record to appear, and ``overwrite`` under several ranks is refused
        (a rank could resume into outputs that rank 0 is about to remove). Every rank then lists
        what it writes into ``out_dir`` (``.outputs``).

        Raises:
            SamWsssError: One line naming what differs, or why ``out_dir`` cannot be used
                (another run holds it, a malformed record or list), and the way out
                (``--overwrite`` or a new ``--out``).
        """
        check_separate(self.out_dir, self.input_paths, self.out_flag, self.outputs)
        if overwrite and world_size > 1 and barrier is None:
            raise SamWsssError(f'--overwrite with WORLD_SIZE={world_size}: run it once without '
                               f'torchrun (or remove {self.out_dir}) first, then resume the '
                               'shards without --overwrite')
        if rank == 0:
            lock_output_folder(self.out_dir, self.tool, self.out_flag)
            self._decide(overwrite)
            start_listing(self.out_dir)
            if barrier is not None:
                barrier()
            return self
        self._precheck(overwrite)  # refuse what rank 0 refuses, rather than wait for it
        if barrier is not None:
            barrier()
            record = read_record(self.out_dir)
            if record is None or self.differences(record):
                self._refuse(record)
        else:
            self._wait_for_record(wait_s)
        self.uid = read_record(self.out_dir)['uid']
        start_listing(self.out_dir)
        return self

    def _decide(self, overwrite: bool) -> None:
        record = read_record(self.out_dir)
        if not overwrite:
            if record is not None and not self.differences(record):
                self.uid = record.get('uid')  # the same run: resume
                self._remove_stale_temporaries()
                return
            if record is not None or self.existing_outputs():
                self._refuse(record)
        self._remove_recorded_outputs(record)
        self._write()

    def _remove_recorded_outputs(self, record: Optional[Mapping]) -> None:
        """For ``--overwrite``: remove exactly what the list of written outputs names, after
        checking it; refuse when outputs are there that no list names (nothing is guessed)."""
        fix = f'remove {self.out_dir} yourself or pass a new {self.out_flag}'
        if record is not None and record.get('format') != RECORD_FORMAT:
            raise SamWsssError(f'{self.path}: made by an older version that did not list the '
                               'files it wrote, so --overwrite cannot tell its outputs from '
                               f'your own; {fix}')
        listed = {osp.join(self.out_dir, relative) for relative in read_manifest(self.out_dir)}
        unlisted = [path for path in self.existing_outputs() if path not in listed]
        if record is None and unlisted:
            shown = ', '.join(osp.relpath(path, self.out_dir) for path in unlisted[:3])
            raise SamWsssError(f'{self.out_dir}: holds {len(unlisted)} files that match this '
                               f"tool's outputs ({shown}{', ...' if len(unlisted) > 3 else ''}) "
                               'but no record lists them as written by a tool; --overwrite '
                               f'removes only listed outputs: move them away, or {fix}')
        remove_listed_outputs(self.out_dir)

    def _precheck(self, overwrite: bool) -> None:
        """Refuse, on a rank other than 0, what rank 0 refuses (read-only)."""
        if overwrite:
            return
        record = read_record(self.out_dir)
        if record is None and self.existing_outputs():
            record = read_record(self.out_dir)  # rank 0 may have written it meanwhile
            if record is None:
                self._refuse(None)
        if record is not None and self.differences(record):
            self._refuse(record)

    def _refuse(self, record: Optional[Mapping]) -> None:
        fix = f'rerun with --overwrite to replace its outputs, or pass a new {self.out_flag}'
        if record is None:
            raise SamWsssError(
                f'{self.out_dir}: holds {len(self.existing_outputs())} output files '
                f'({", ".join(self.outputs)}) but no record of what made them '
                f'({PROVENANCE_NAME}); {fix}')
        changes = self.differences(record)
        what = '; '.join(changes[:6])
        if len(changes) > 6:
            what += f'; and {len(changes) - 6} more'
        raise SamWsssError(f'{self.path}: {self.out_dir} was made by {record.get("tool")} from '
                           f'other settings or inputs ({what}); {fix}')

    def _write(self) -> None:
        self.uid = uuid.uuid4().hex
        record = dict(self.as_dict(),
                      created=datetime.datetime.now(datetime.timezone.utc).isoformat(
                          timespec='seconds'))
        with atomic_write(self.path, 'w') as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
        self._remove_stale_temporaries()

    def _wait_for_record(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while True:
            record = read_record(self.out_dir)
            if record is not None:
                if self.differences(record):
                    self._refuse(record)
                return
            if time.monotonic() > deadline:
                raise SamWsssError(f'{self.path}: rank 0 wrote no record within {wait_s:.0f} s; '
                                   'check that rank 0 runs with the same --out')
            time.sleep(0.5)

    def _folders(self, patterns: Sequence[str]) -> List[str]:
        folders = {self.out_dir}
        for pattern in patterns:
            folders.update(glob.glob(osp.join(glob.escape(self.out_dir),
                                              osp.dirname(pattern) or '.')))
        return sorted(folder for folder in folders if osp.isdir(folder))

    def _remove_stale_temporaries(self) -> None:
        for folder in self._folders(self.outputs):
            remove_stale_temporaries(folder)


# Output folders whose lock this process holds: real path -> the lock file's descriptor.
_HELD_LOCKS: Dict[str, int] = {}


def lock_output_folder(out_dir: str, tool: str, out_flag: str = '--out') -> None:
    """Hold an OS lock (``flock``) on ``<out_dir>/.lock`` until this process exits, is killed,
    or calls :func:`release_output_folders`; the file names the holder for a refused run.

    Raises:
        SamWsssError: One line naming the run that holds the lock (pid, host, tool, start).
    """
    real = osp.realpath(out_dir)
    if real in _HELD_LOCKS:
        return
    path = osp.join(out_dir, LOCK_NAME)
    try:
        os.makedirs(out_dir, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as error:
        raise SamWsssError(f'{path}: cannot create the lock file ({error.strerror or error}); '
                           f'check that {out_flag} is writable') from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = _lock_holder(descriptor)
        os.close(descriptor)
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise SamWsssError(f'{path}: cannot lock ({error.strerror or error}); the file '
                               f'system of {out_flag} may not support locks') from error
        raise SamWsssError(f'{out_dir}: another run is writing here ({holder}); wait for it '
                           f'to end, or pass another {out_flag}') from None
    holder = {'pid': os.getpid(), 'host': socket.gethostname(), 'tool': tool,
              'started': datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec='seconds')}
    os.ftruncate(descriptor, 0)
    os.write(descriptor, json.dumps(holder).encode() + b'\n')
    _HELD_LOCKS[real] = descriptor


def _lock_holder(descriptor: int) -> str:
    """The holder a lock file names, in words."""
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0).decode('utf-8'))
        return (f'{holder["tool"]}, pid {holder["pid"]} on {holder["host"]}, started '
                f'{holder["started"]}')
    except (OSError, ValueError, KeyError, TypeError):
        return 'a run that has not said who it is yet'


def release_output_folders() -> None:
    """Release this process's output-folder locks and stop listing its writes (a tool's run
    is over; ``run_tool`` calls this)."""
    for descriptor in _HELD_LOCKS.values():
        with contextlib.suppress(OSError):
            os.close(descriptor)  # closing the last descriptor releases the flock
    _HELD_LOCKS.clear()
    stop_listing()
