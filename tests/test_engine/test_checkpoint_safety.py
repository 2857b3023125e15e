"""mmengine checkpoints load under torch's weights_only default, and nothing else is let in."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmseg_sam_wsss.registration  # noqa: F401  (adds the allow-list)


def test_message_hub_state_round_trips_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('test_checkpoint_safety')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', 7)
    checkpoint = {'message_hub': hub.state_dict(), 'meta': {'seed': np.int64(3)},
                  'state_dict': {'weight': torch.ones(2)}, 'array': np.arange(4.0)}
    path = tmp_path / 'ckpt.pth'
    torch.save(checkpoint, path)
    loaded = torch.load(path, weights_only=True)
    history = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(history, HistoryBuffer)
    assert history.mean() == pytest.approx(0.375)
    np.testing.assert_array_equal(loaded['array'], np.arange(4.0))


class NotAllowed:
    pass


def test_other_globals_are_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'obj': NotAllowed()}, path)
    with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
        torch.load(path, weights_only=True)


def test_getattr_in_a_checkpoint_resolves_only_history_buffer_methods(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'method': getattr(HistoryBuffer, 'mean')}, path)  # pickled via getattr
    assert torch.load(path, weights_only=True)['method'] is HistoryBuffer.mean

    class Reduced:
        def __reduce__(self):
            return getattr, (HistoryBuffer, '__init__')

    torch.save({'obj': Reduced()}, tmp_path / 'dunder.pth')
    with pytest.raises(pickle.UnpicklingError, match='only HistoryBuffer statistics'):
        torch.load(tmp_path / 'dunder.pth', weights_only=True)
