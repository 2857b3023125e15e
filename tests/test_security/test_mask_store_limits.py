"""A ``.samm`` file is untrusted: its header's sizes are capped before anything is allocated,
its zlib payload is inflated only to the declared size, and ``tools/mask_store.py verify``
reports such a file as a problem (exit 1), never a traceback or a 10 GiB allocation."""
import json
import os.path as osp
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from helpers import load_tool

from mmseg_sam_wsss.core.mask_store import (MAGIC, MaskLimits, MaskSet, MaskStore,
                                            decode_mask_set, encode_mask_set, read_amg_folder)
from mmseg_sam_wsss.errors import SamWsssError

HEADER = struct.Struct('<IIIIII')


def craft(height, width, num_masks, num_runs, payload=None, record=None, compressed=None):
    """A .samm file with any header, a valid checksum and the given payload or zlib stream."""
    meta = json.dumps({'source': 'oracle'} if record is None else record).encode() \
        if not isinstance(record, bytes) else record
    if compressed is None:
        compressed = zlib.compress(payload or b'')
    body = meta + compressed
    return MAGIC + HEADER.pack(1, height, width, num_masks, num_runs, len(meta)) + \
        struct.pack('<I', zlib.crc32(body)) + body


def one_mask_payload(runs):
    """The payload of one mask with the given runs (areas, boxes and scores zero)."""
    return (np.array([len(runs)], '<u4').tobytes() + np.asarray(runs, '<u4').tobytes()
            + bytes(8 + 16 + 4 + 4 + 8))


def peak_bytes(function, *args, **kwargs):
    """``(result or the SamWsssError raised, peak traced bytes)`` of one call."""
    tracemalloc.start()
    try:
        result = function(*args, **kwargs)
    except SamWsssError as error:
        result = error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result, peak


BOMB = zlib.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in ~64 KiB
CASES = [
    # (what, file bytes, message)
    ('a 200-byte file claiming 60000x60000 px',
     craft(60000, 60000, 1, 1, one_mask_payload([60000 * 60000])), 'above the mask-store cap'),
    ('a zlib bomb behind a small header', craft(4, 4, 1, 1, compressed=BOMB),
     'payload is more than'),
    ('a zlib bomb behind a header within the caps', craft(8192, 8192, 1000, 1 << 20,
                                                            compressed=BOMB), 'payload is'),
    ('2**32-1 masks', craft(4, 4, 2 ** 32 - 1, 2 ** 32 - 1, b''), 'masks, above the cap'),
    ('more runs than the cap', craft(4, 4, 1, 1 << 30, b''), 'runs, above the cap'),
    ('fewer runs than masks', craft(4, 4, 3, 1, b''), 'which no mask set has'),
    ('a JSON record that is a list', craft(4, 4, 1, 1, one_mask_payload([16]), record=[]),
     'JSON record is not'),
    ('a JSON record nested 100000 deep',
     craft(4, 4, 1, 1, one_mask_payload([16]), record=b'[' * 100000 + b']' * 100000),
     'cannot decode its JSON record'),
    ('a JSON record of invalid UTF-8', craft(4, 4, 1, 1, one_mask_payload([16]),
                                             record=b'\xff\xfe'), 'cannot decode its JSON'),
    ('settings that are not a dict', craft(4, 4, 1, 1, one_mask_payload([16]),
                                           record={'source': 'oracle', 'settings': 3}),
     'JSON record is not'),
    ('a record length past the end', MAGIC + HEADER.pack(1, 4, 4, 1, 1, 10 ** 6) +
     struct.pack('<I', zlib.crc32(b'{}')) + b'{}', 'truncated'),
    ('runs that do not add up to H*W', craft(4, 4, 1, 2, one_mask_payload([3, 3])[:4]
                                             + np.array([3, 3], '<u4').tobytes()
                                             + bytes(40)), 'do not add up'),
    ('a stream that stops short', craft(4, 4, 1, 1, compressed=zlib.compress(
        one_mask_payload([16]))[:-6]), 'payload is'),
]


@pytest.mark.parametrize('what,data,message', CASES, ids=[case[0] for case in CASES])
def test_crafted_files_are_refused_within_a_memory_bound(what, data, message):
    result, peak = peak_bytes(decode_mask_set, data, 'crafted.samm')
    assert isinstance(result, SamWsssError), what
    assert message in str(result) and 'crafted.samm' in str(result)
    assert '\n' not in str(result)
    # Bound: a few copies of the file, plus twice the payload the header may declare (only
    # when it is within the caps), never what the stream inflates to (64 MiB for the bombs).
    _, height, width, num_masks, num_runs, _ = HEADER.unpack_from(data, len(MAGIC))
    declared = num_masks * 44 + num_runs * 4 if num_masks <= 1 << 16 and num_runs <= 1 << 24 \
        and height * width <= 1 << 26 else 0
    assert peak < 4 * len(data) + 2 * declared + (2 << 20), f'{what}: {peak} bytes traced'


def test_limits_can_be_raised_and_lowered():
    mask_set = MaskSet.from_masks(np.ones((3, 20, 30), bool), 'oracle')
    data = encode_mask_set(mask_set)
    assert len(decode_mask_set(data)) == 3
    with pytest.raises(SamWsssError, match='above the mask-store cap of 500 px'):
        decode_mask_set(data, limits=MaskLimits(max_pixels=500))
    with pytest.raises(SamWsssError, match='3 masks, above the cap of 2'):
        decode_mask_set(data, limits=MaskLimits(max_masks=2))
    assert len(decode_mask_set(data, limits=MaskLimits(max_pixels=600, max_masks=3,
                                                       max_runs=6))) == 3


def test_store_refuses_a_file_larger_than_the_caps_before_reading_it(tmp_path):
    store = MaskStore(str(tmp_path), create=True, source='oracle',
                      limits=MaskLimits(max_pixels=100, max_masks=2, max_runs=4))
    with open(store.path('big'), 'wb') as handle:
        handle.write(MAGIC + bytes(3 << 20))
    with pytest.raises(SamWsssError, match='larger than any file within the mask-store caps'):
        store.read('big')


@pytest.mark.parametrize('what,data,message', [CASES[0], CASES[1], CASES[6]],
                         ids=[CASES[0][0], CASES[1][0], CASES[6][0]])
def test_verify_reports_crafted_files_as_problems(repo_root, tmp_path, capsys, what, data,
                                                  message):
    tool = load_tool(repo_root, 'mask_store')
    store = MaskStore(str(tmp_path / 'store'), create=True, source='oracle')
    store.write('good', MaskSet.from_masks(np.eye(5, dtype=bool)[None], 'oracle'))
    with open(store.path('evil'), 'wb') as handle:
        handle.write(data)
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(lambda: tool.main(['verify', store.root]))
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert f'problem: {osp.join(store.root, "evil.samm")}' in captured.err
    assert message in captured.err and 'Traceback' not in captured.err
    assert '2 files, 1 masks, 1 problems' in captured.out


def test_verify_caps_are_options(repo_root, tmp_path, capsys):
    tool = load_tool(repo_root, 'mask_store')
    store = MaskStore(str(tmp_path / 'store'), create=True, source='oracle')
    store.write('a', MaskSet.from_masks(np.ones((2, 5, 6), bool), 'oracle'))
    for argv, code in ((['--max-pixels', '30'], 0), (['--max-pixels', '29'], 1),
                       (['--max-masks', '1'], 1), (['--max-runs', '3'], 1)):
        with pytest.raises(SystemExit) as exit_info:
            tool.run_tool(lambda: tool.main(['verify', store.root] + argv))
        assert exit_info.value.code == code, argv
    assert 'above the cap of 3' in capsys.readouterr().err


def test_verify_decodes_large_mask_sets_in_chunks(repo_root, tmp_path, monkeypatch):
    tool = load_tool(repo_root, 'mask_store')
    monkeypatch.setattr(tool, 'DECODE_CHUNK_PIXELS', 2 * 6 * 7)
    masks = np.random.default_rng(0).random((5, 6, 7)) > 0.5
    mask_set = MaskSet.from_masks(masks, 'oracle')
    decoded = []
    original = MaskSet.decode
    monkeypatch.setattr(MaskSet, 'decode', lambda self, indices=None: decoded.append(
        list(indices)) or original(self, indices))
    tool.check_mask_set(mask_set, 'x.samm')
    assert decoded == [[0, 1], [2, 3], [4]]
    mask_set.areas[4] += 1
    with pytest.raises(SamWsssError, match='stored areas differ'):
        tool.check_mask_set(mask_set, 'x.samm')


def test_amg_folders_are_checked_against_the_caps(tmp_path):
    from PIL import Image
    mask_dir = tmp_path / 'a'
    mask_dir.mkdir()
    for index in range(3):
        Image.new('L', (30, 20)).save(mask_dir / f'{index}.png')
    assert len(read_amg_folder(str(tmp_path), 'a')) == 3
    with pytest.raises(SamWsssError, match='3 mask PNGs, above the cap of 2'):
        read_amg_folder(str(tmp_path), 'a', MaskLimits(max_masks=2))
    with pytest.raises(SamWsssError, match='0.png: mask PNG is 30x20 px, above the mask-store '
                       'cap of 500 px'):
        read_amg_folder(str(tmp_path), 'a', MaskLimits(max_pixels=500))
    (mask_dir / '1.png').write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(30))
    with pytest.raises(SamWsssError, match='1.png'):
        read_amg_folder(str(tmp_path), 'a')
