"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. mmengine 0.10.7's
``load_checkpoint`` (used by ``--resume`` and ``load_from``) relies on that default, and its
checkpoints carry a few non-tensor objects (the MessageHub's ``HistoryBuffer``, the NumPy
arrays and scalars inside it, and ``getattr(HistoryBuffer, 'mean')``-style references to its
statistics methods), so resuming fails with ``Unsupported global:
mmengine.logging.history_buffer.HistoryBuffer``. Rather than switching the safety off, we add
exactly those types to torch's allow-list, and stand in for ``builtins.getattr`` with a
function that resolves only HistoryBuffer's own methods; anything else still fails to load.
"""
import pickle
from typing import List

import numpy as np
import torch


def mmengine_checkpoint_globals() -> List[object]:
    """The types mmengine checkpoints contain beyond tensors and builtins."""
    from mmengine.logging.history_buffer import HistoryBuffer

    numpy_types: List[object] = [np.ndarray, np.dtype]
    # NumPy 1.x and 2.x pickle arrays and scalars through different module paths.
    for module_name in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        try:
            module = __import__(module_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        numpy_types += [module._reconstruct, module.scalar]
    # Each dtype's class (np.dtypes.Float64DType, ...) is pickled by reference too.
    numpy_types += sorted({type(np.dtype(code)) for code in np.typecodes['All'] if code not in 'Oc'}
                          | {type(np.dtype(np.complex64))}, key=lambda cls: cls.__name__)
    return [HistoryBuffer] + numpy_types


def history_buffer_method(owner: object, name: str) -> object:
    """``getattr`` as seen by ``torch.load``: only ``HistoryBuffer``'s own statistics methods.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods as ``getattr(HistoryBuffer,
    'mean')``; any other ``getattr`` in a checkpoint is refused.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    method = vars(HistoryBuffer).get(name) if owner is HistoryBuffer else None
    if name.startswith('_') or not callable(method):
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({owner!r}, {name!r}); only HistoryBuffer statistics '
            'methods are allowed when loading with weights_only=True')
    return getattr(HistoryBuffer, name)


def allow_mmengine_checkpoint_globals() -> None:
    """Add :func:`mmengine_checkpoint_globals` to torch's ``weights_only`` allow-list."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 has no allow-list and no weights_only default
        return
    add_safe_globals(mmengine_checkpoint_globals() + [(history_buffer_method, 'builtins.getattr')])
