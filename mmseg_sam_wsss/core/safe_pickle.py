"""Read ``.npy`` files, pickled object arrays included, without running code from them.

The CAM literature (PSA, IRN) ships ``cls_labels.npy`` as a pickled dict, which
``np.load(allow_pickle=True)`` would unpickle with every global the file names: a crafted file
runs code before any check. :func:`load_npy` reads plain arrays with ``allow_pickle=False`` and
unpickles object arrays with :class:`RestrictedUnpickler`, which admits only dicts, lists,
tuples, sets, strings, bytes, numbers, bools, None, NumPy arrays, dtypes and scalars. Pure NumPy.
"""
import io
import os.path as osp
import pickle
from typing import Any, Dict, Tuple

import numpy as np

from ..errors import SamWsssError


def _numpy_globals() -> Dict[Tuple[str, str], Any]:
    """``(module, name) -> object`` of the NumPy globals an array or scalar pickle names, under
    both NumPy 1.x (``numpy.core``) and 2.x (``numpy._core``) spellings."""
    try:
        from numpy._core import multiarray, numeric  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core import multiarray, numeric
    allowed = {('numpy', 'ndarray'): np.ndarray, ('numpy', 'dtype'): np.dtype}
    for package in ('numpy.core', 'numpy._core'):
        allowed[(f'{package}.multiarray', '_reconstruct')] = multiarray._reconstruct
        allowed[(f'{package}.multiarray', 'scalar')] = multiarray.scalar
        # Protocol-5 array pickles rebuild from a buffer (frombuffer + reshape, nothing else).
        allowed[(f'{package}.numeric', '_frombuffer')] = numeric._frombuffer
    return allowed


ALLOWED_GLOBALS = _numpy_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (NumPy arrays, dtypes, scalars).

    Containers, strings, numbers, bools and None need no global; anything else (``os.system``,
    ``builtins.eval``, any class) raises ``pickle.UnpicklingError`` before it is imported.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f'refused global {module}.{name} (only NumPy arrays, dtypes, scalars and '
                'plain containers may be unpickled)') from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError('refused a persistent id')


# What a malformed pickle or array state can raise while being rebuilt, besides UnpicklingError.
_UNPICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                    IndexError, KeyError, OverflowError, MemoryError, RecursionError,
                    UnicodeDecodeError, ImportError, SystemError, NotImplementedError)


def restricted_loads(data: bytes, name: str) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Args:
        data (bytes): The pickle.
        name (str): The file, for the message.

    Raises:
        SamWsssError: One line naming ``name`` when the pickle is malformed or names anything
            beyond the allowed types.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding='latin1').load()
    except _UNPICKLE_ERRORS as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise SamWsssError(f'{name}: refused to unpickle ({reason}); only dicts, lists, '
                           'strings, numbers and NumPy arrays are read from pickles, never '
                           'code') from error


def load_npy(path: str) -> np.ndarray:
    """Read a ``.npy`` file; an object array (a pickled dict) goes through
    :func:`restricted_loads`, so the file never runs code.

    Returns:
        np.ndarray: The array (0-d ``object`` for a pickled dict: use ``.item()``).

    Raises:
        SamWsssError: One line naming ``path`` for a file that is not ``.npy``, is truncated,
            or pickles anything beyond the allowed types.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: not found')
    try:
        with open(path, 'rb') as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            if not dtype.hasobject:
                needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                held = osp.getsize(path) - handle.tell()
                if needed > held:  # checked before numpy allocates what the header claims
                    raise ValueError(f'the header claims {shape} {dtype} ({needed} bytes), '
                                     f'the file holds {held}')
                handle.seek(0)
                return np.load(handle, allow_pickle=False)
            data = handle.read()
    except (OSError, ValueError, TypeError, EOFError, SyntaxError, MemoryError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise SamWsssError(f'{path}: not a readable .npy file ({reason})') from error
    array = restricted_loads(data, path)
    if not isinstance(array, np.ndarray):
        raise SamWsssError(f'{path}: the .npy pickle holds a {type(array).__name__}, not an '
                           'array')
    if tuple(array.shape) != tuple(shape):
        raise SamWsssError(f'{path}: the .npy header says shape {shape}, the pickle holds '
                           f'{array.shape}')
    return array
