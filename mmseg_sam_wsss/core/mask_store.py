"""The compact mask store: one small binary file of class-agnostic masks per image.

A store is a directory with ``store.json`` (format version, a random ``uid`` made at creation,
mask source, generator settings) and one ``<id>.samm`` file per image. Each file is::

    magic b'SAMWSSSM' | header '<IIIIII' (version, height, width, num_masks, num_runs,
    json_len) | crc32 '<I' of the rest | JSON {source, settings, image_id, store_uid} |
    zlib( run_counts (N,) uint32 | runs (R,) uint32 | areas (N,) int64 | bboxes (N, 4) float32 |
          predicted_iou (N,) float32 | stability_score (N,) float32 | point_coords (N, 2) float32 )

Runs are COCO RLE counts (Fortran order, zeros first), so the merge works on them without
decoding the masks. ``image_id`` and ``store_uid`` tie a file to its image and store: reading a
file copied under another id or from another store is an error. Files written before they were
recorded (no ``image_id``) are still read, unchecked; the format version is unchanged.
A file is untrusted data: its header's sizes are checked against :class:`MaskLimits` (a cap on
pixels, masks and runs per image, see :data:`DEFAULT_MASK_LIMITS`) before anything is
allocated, and its zlib payload is inflated to at most the size the header declares.
``read_amg_folder``/``write_amg_folder`` speak segment-anything's ``scripts/amg.py`` layout
(``<id>/<k>.png`` 0/255 masks + ``metadata.csv``). Pure NumPy + pycocotools + Pillow; no mmseg.
"""
import itertools
import json
import os
import os.path as osp
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np
from PIL import Image

from ..errors import SamWsssError
from .io import atomic_write, check_png_chunks
from .rle import (coco_to_runs, mask_sequence_to_runs, masks_to_runs, runs_areas_and_boxes,
                  runs_to_coco, runs_to_masks)

MAGIC = b'SAMWSSSM'
FORMAT_VERSION = 1
SUFFIX = '.samm'
STORE_JSON = 'store.json'
_HEADER = struct.Struct('<IIIIIII')  # version, height, width, num_masks, num_runs, json_len, crc
# Bytes per mask (run count, area, box, iou, stability, point) and per run in the payload.
_MASK_BYTES = 4 + 8 + 16 + 4 + 4 + 8
_RUN_BYTES = 4
#: Room for the magic, header and JSON record (source, settings, ids) of one file.
MAX_RECORD = 1 << 20
AMG_HEADER = ('id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,'
              'predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h')


@dataclass(frozen=True)
class MaskLimits:
    """Caps a mask-store file must respect before it is decoded (a header is untrusted).

    Args:
        max_pixels (int): Largest ``H * W``. Default: ``1 << 26`` (8192 x 8192, four times
            ``generate_sam_masks.py``'s default ``--max-pixels``).
        max_masks (int): Most masks per image. Default: ``1 << 16`` (65,536).
        max_runs (int): Most run lengths per image, all masks together (4 bytes each once
            inflated). Default: ``1 << 24`` (16.7 M runs, 64 MiB).
    """
    max_pixels: int = 1 << 26
    max_masks: int = 1 << 16
    max_runs: int = 1 << 24

    def payload_bytes(self) -> int:
        """The largest inflated payload a file within these limits can declare."""
        return self.max_masks * _MASK_BYTES + self.max_runs * _RUN_BYTES


#: The caps every reader uses unless given others (``tools/mask_store.py verify --max-*``).
DEFAULT_MASK_LIMITS = MaskLimits()


def _column(values, num_masks: int, width: int, name: str) -> np.ndarray:
    """``values`` as float32 ``(N,)``/``(N, width)``, NaN when ``None``."""
    shape = (num_masks, ) if width == 1 else (num_masks, width)
    if values is None:
        return np.full(shape, np.nan, dtype=np.float32)
    array = np.asarray(values, dtype=np.float32).reshape(-1 if width == 1 else (-1, width))
    if array.shape != shape:
        raise SamWsssError(f'{name} has shape {array.shape}, expected {shape} (one per mask)')
    return array


@dataclass(eq=False)
class MaskSet:
    """One image's class-agnostic masks plus per-mask metadata.

    The masks are held as COCO run lengths (``runs``/``run_offsets``); ``rles`` gives COCO
    compressed RLEs and ``decode`` the boolean masks.

    Args:
        height (int): Image height H.
        width (int): Image width W.
        runs (np.ndarray): ``(R,) uint32`` concatenated COCO RLE counts (Fortran order).
        run_offsets (np.ndarray): ``(N + 1,) int64``; mask ``i`` is
            ``runs[run_offsets[i]:run_offsets[i + 1]]``.
        areas (np.ndarray): ``(N,) int64`` pixel counts.
        bboxes (np.ndarray): ``(N, 4) float32`` XYWH boxes.
        predicted_iou (np.ndarray): ``(N,) float32``, NaN where the source has none.
        stability_score (np.ndarray): ``(N,) float32``, NaN where none.
        point_coords (np.ndarray): ``(N, 2) float32`` (x, y) prompt points, NaN where none.
        source (str): Where the masks come from, e.g. ``'sam'``, ``'oracle'``, ``'superpixel'``,
            ``'sam-random-init (not SAM)'``, ``'amg-import'``.
        settings (dict): JSON-serializable generator settings.
        image_id (str, optional): The image the masks belong to; set by :meth:`MaskStore.read`
            (None for a set not read from a store, or a file written before ids were recorded).
        store_uid (str, optional): The uid of the store the file was written into, likewise.
    """
    height: int
    width: int
    runs: np.ndarray
    run_offsets: np.ndarray
    areas: np.ndarray
    bboxes: np.ndarray
    predicted_iou: np.ndarray
    stability_score: np.ndarray
    point_coords: np.ndarray
    source: str
    settings: dict = field(default_factory=dict)
    image_id: Optional[str] = None
    store_uid: Optional[str] = None

    def __len__(self) -> int:
        return len(self.run_offsets) - 1

    @property
    def rles(self) -> List[dict]:
        """COCO compressed RLEs ``{'size': [h, w], 'counts': bytes}``, one per mask."""
        return runs_to_coco(self.runs, self.run_offsets, self.height, self.width)

    def decode(self, indices: Optional[Sequence[int]] = None) -> np.ndarray:
        """The masks (all, or ``indices``) as ``(N, H, W) bool``."""
        return runs_to_masks(self.runs, self.run_offsets, self.height, self.width, indices)

    @classmethod
    def from_runs(cls, runs: np.ndarray, run_offsets: np.ndarray, height: int, width: int,
                  source: str, settings: Optional[dict] = None, predicted_iou=None,
                  stability_score=None, point_coords=None) -> 'MaskSet':
        """Build from run lengths (as :func:`core.rle.masks_to_runs` gives); areas and XYWH
        boxes are computed from the runs."""
        num_masks = len(run_offsets) - 1
        areas, bboxes = _areas_and_boxes(runs, run_offsets, height)
        return cls(int(height), int(width), runs, run_offsets, areas, bboxes,
                   _column(predicted_iou, num_masks, 1, 'predicted_iou'),
                   _column(stability_score, num_masks, 1, 'stability_score'),
                   _column(point_coords, num_masks, 2, 'point_coords'), str(source),
                   dict(settings or {}))

    @classmethod
    def from_masks(cls, masks: np.ndarray, source: str, settings: Optional[dict] = None,
                   predicted_iou=None, stability_score=None, point_coords=None) -> 'MaskSet':
        """Build from ``(N, H, W) bool`` masks; areas and XYWH boxes are computed."""
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise SamWsssError(f'masks must be (N, H, W), got shape {masks.shape}')
        runs, offsets = masks_to_runs(masks.astype(bool, copy=False))
        return cls.from_runs(runs, offsets, masks.shape[1], masks.shape[2], source, settings,
                             predicted_iou, stability_score, point_coords)

    @classmethod
    def from_rles(cls, rles: Sequence[dict], source: str, settings: Optional[dict] = None,
                  predicted_iou=None, stability_score=None, point_coords=None,
                  height: Optional[int] = None, width: Optional[int] = None) -> 'MaskSet':
        """Build from COCO RLEs (compressed or not); ``height``/``width`` needed when empty."""
        if not rles and (height is None or width is None):
            raise SamWsssError('an empty RLE list needs height and width')
        if rles:
            height, width = (int(v) for v in rles[0]['size'])
            if any(list(rle['size']) != [height, width] for rle in rles):
                raise SamWsssError('RLEs of one image must all have the same size')
        runs, offsets = coco_to_runs(rles, height, width)
        return cls.from_runs(runs, offsets, height, width, source, settings, predicted_iou,
                             stability_score, point_coords)


def _areas_and_boxes(runs: np.ndarray, offsets: np.ndarray, height: int):
    """``(N,) int64`` areas and ``(N, 4) float32`` XYWH boxes (COCO's: width = x1 - x0 + 1)."""
    areas, boxes = runs_areas_and_boxes(runs, offsets, height)
    bboxes = np.zeros(boxes.shape, dtype=np.float32)
    present = areas > 0
    bboxes[present] = np.concatenate([boxes[present, :2],
                                      boxes[present, 2:] - boxes[present, :2] + 1], 1)
    return areas, bboxes


def encode_mask_set(mask_set: MaskSet, image_id: Optional[str] = None,
                    store_uid: Optional[str] = None) -> bytes:
    """Serialize a :class:`MaskSet` to the store's binary format.

    Args:
        mask_set (MaskSet): The masks.
        image_id (str, optional): Recorded as the file's image (default: ``mask_set.image_id``).
        store_uid (str, optional): Recorded as the file's store (default:
            ``mask_set.store_uid``).
    """
    num_masks = len(mask_set)
    run_counts = np.diff(mask_set.run_offsets).astype('<u4')
    payload = b''.join([
        run_counts.tobytes(), mask_set.runs.astype('<u4').tobytes(),
        mask_set.areas.astype('<i8').tobytes(), mask_set.bboxes.astype('<f4').tobytes(),
        mask_set.predicted_iou.astype('<f4').tobytes(),
        mask_set.stability_score.astype('<f4').tobytes(),
        mask_set.point_coords.astype('<f4').tobytes()])
    record = {'source': mask_set.source, 'settings': mask_set.settings}
    image_id = image_id if image_id is not None else mask_set.image_id
    store_uid = store_uid if store_uid is not None else mask_set.store_uid
    if image_id is not None:
        record['image_id'] = image_id
    if store_uid is not None:
        record['store_uid'] = store_uid
    meta = json.dumps(record).encode()
    body = meta + zlib.compress(payload, 6)
    header = _HEADER.pack(FORMAT_VERSION, mask_set.height, mask_set.width, num_masks,
                          len(mask_set.runs), len(meta), zlib.crc32(body))
    return MAGIC + header + body


def _check_header(height: int, width: int, num_masks: int, num_runs: int, meta_len: int,
                  body_len: int, limits: MaskLimits, name: str) -> None:
    """Raise unless the header's sizes are consistent and within ``limits`` (before any
    allocation)."""
    fix = 'delete it and re-create it (rerun the generator or tools/mask_store.py import-amg)'
    if height * width > limits.max_pixels:
        raise SamWsssError(f'{name}: header says {width}x{height} px, above the mask-store cap '
                           f'of {limits.max_pixels} px; {fix}, or raise the cap (max_pixels) '
                           'if the image really is that large')
    if num_masks > limits.max_masks:
        raise SamWsssError(f'{name}: header says {num_masks} masks, above the cap of '
                           f'{limits.max_masks}; {fix}, or raise the cap (max_masks)')
    if num_runs > limits.max_runs:
        raise SamWsssError(f'{name}: header says {num_runs} runs, above the cap of '
                           f'{limits.max_runs}; {fix}, or raise the cap (max_runs)')
    # Every mask has at least one run and at most H*W + 1 (only its first may be empty).
    if num_runs < num_masks or num_runs > num_masks * (height * width + 1):
        raise SamWsssError(f'{name}: header says {num_runs} runs for {num_masks} masks of '
                           f'{width}x{height} px, which no mask set has; {fix}')
    if meta_len > min(body_len, MAX_RECORD):
        raise SamWsssError(f'{name}: header says {meta_len} bytes of JSON, the file has '
                           f'{body_len}; it is truncated; {fix}')


def _inflate(compressed: memoryview, expected: int, name: str, fix: str) -> bytes:
    """zlib-inflate at most ``expected + 1`` bytes (a bomb stops there); :class:`SamWsssError`
    unless exactly ``expected`` bytes come out and the stream ends."""
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(compressed, expected + 1)
        if len(payload) <= expected and not inflater.eof:
            payload += inflater.flush(expected + 1 - len(payload))
    except zlib.error as error:
        raise SamWsssError(f'{name}: cannot decode ({error}); {fix}') from error
    if len(payload) != expected or not inflater.eof:
        shown = f'more than {expected}' if len(payload) > expected else str(len(payload))
        raise SamWsssError(f'{name}: payload is {shown} bytes, expected {expected}; {fix}')
    return payload


def _read_meta_record(raw: memoryview, name: str, fix: str) -> dict:
    """The file's JSON record, checked to be ``{source: str, settings: dict, ...}``."""
    try:
        meta = json.loads(bytes(raw).decode('utf-8'))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise SamWsssError(f'{name}: cannot decode its JSON record ({error}); {fix}') from error
    if not isinstance(meta, dict) or not isinstance(meta.get('source', ''), str) or \
            not isinstance(meta.get('settings', {}), dict) or any(
                not isinstance(meta.get(key), (str, type(None)))
                for key in ('image_id', 'store_uid')):
        raise SamWsssError(f'{name}: its JSON record is not {{"source": str, "settings": '
                           f'{{...}}, "image_id": str, "store_uid": str}}; {fix}')
    return meta


def decode_mask_set(data: bytes, name: str = '<bytes>',
                    limits: MaskLimits = DEFAULT_MASK_LIMITS) -> MaskSet:
    """Parse the store's binary format; :class:`SamWsssError` naming ``name`` if corrupt.

    Args:
        data (bytes): The file's content.
        name (str): The file, for error messages.
        limits (MaskLimits): Caps on the header's sizes, checked before anything is allocated;
            the payload is inflated to at most the size the header declares.
    """
    fix = 'delete it and re-create it (rerun the generator or tools/mask_store.py import-amg)'
    if len(data) < len(MAGIC) + _HEADER.size or data[:len(MAGIC)] != MAGIC:
        raise SamWsssError(f'{name}: not a mask-store file (bad magic or truncated); {fix}')
    version, height, width, num_masks, num_runs, meta_len, crc = _HEADER.unpack_from(
        data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise SamWsssError(f'{name}: mask-store format version {version}, this code reads '
                           f'{FORMAT_VERSION}; re-create the store with this version')
    body = memoryview(data)[len(MAGIC) + _HEADER.size:]
    if zlib.crc32(body) != crc:
        raise SamWsssError(f'{name}: checksum mismatch, the file is corrupt; {fix}')
    _check_header(height, width, num_masks, num_runs, meta_len, len(body), limits, name)
    meta = _read_meta_record(body[:meta_len], name, fix)
    expected = num_masks * _MASK_BYTES + num_runs * _RUN_BYTES
    payload = _inflate(body[meta_len:], expected, name, fix)
    arrays, cursor = [], 0
    for dtype, count, shape in (('<u4', num_masks, (-1, )), ('<u4', num_runs, (-1, )),
                                ('<i8', num_masks, (-1, )), ('<f4', num_masks * 4, (-1, 4)),
                                ('<f4', num_masks, (-1, )), ('<f4', num_masks, (-1, )),
                                ('<f4', num_masks * 2, (-1, 2))):
        array = np.frombuffer(payload, dtype=dtype, count=count, offset=cursor)
        arrays.append(array.reshape(shape))
        cursor += array.nbytes
    run_counts, runs, areas, bboxes, predicted_iou, stability_score, point_coords = arrays
    offsets = np.zeros(num_masks + 1, dtype=np.int64)
    np.cumsum(run_counts, out=offsets[1:])
    if offsets[-1] != num_runs or np.any(run_counts == 0) or (num_masks and np.any(
            np.add.reduceat(runs.astype(np.int64), offsets[:-1]) != height * width)):
        raise SamWsssError(f'{name}: run lengths do not add up to {height}x{width}; {fix}')
    return MaskSet(height, width, runs, offsets, areas, bboxes, predicted_iou, stability_score,
                   point_coords, meta.get('source', ''), meta.get('settings', {}),
                   meta.get('image_id'), meta.get('store_uid'))


class MaskStore:
    """A directory of per-image mask files (``<id>.samm``) and ``store.json``.

    Args:
        root (str): The store directory.
        create (bool): Create the directory and ``store.json`` (with a new random ``uid``) if
            missing (needs ``source``); a store of an older version gets its ``uid`` now.
        source (str, optional): Mask source written to a new store's ``store.json``; when the
            store exists it must match.
        settings (dict, optional): Generator settings for a new store's ``store.json``.
        limits (MaskLimits, optional): Caps on every file read (default:
            :data:`DEFAULT_MASK_LIMITS`).
    """

    def __init__(self, root: str, create: bool = False, source: Optional[str] = None,
                 settings: Optional[dict] = None,
                 limits: Optional[MaskLimits] = None) -> None:
        self.root = root
        self.limits = limits or DEFAULT_MASK_LIMITS
        meta_path = osp.join(root, STORE_JSON)
        if not osp.isfile(meta_path):
            if not create:
                raise SamWsssError(f'{root}: not a mask store (no {STORE_JSON}); create it with '
                                   'a mask generator or tools/mask_store.py import-amg')
            if not source:
                raise SamWsssError(f'{root}: a new mask store needs a source string')
            meta = {'format': 'mmseg_sam_wsss mask store', 'version': FORMAT_VERSION,
                    'uid': uuid.uuid4().hex, 'source': source, 'settings': settings or {}}
            self._write_meta(meta_path, meta)
        meta = self._read_meta(meta_path)
        if meta.get('version') != FORMAT_VERSION:
            raise SamWsssError(f'{meta_path}: store version {meta.get("version")}, this code '
                               f'reads {FORMAT_VERSION}; re-create the store')
        if source is not None and meta.get('source') != source:
            raise SamWsssError(f'{meta_path}: store holds source {meta.get("source")!r}, not '
                               f'{source!r}; use another directory')
        if create and not meta.get('uid'):  # a store made before stores had a uid
            meta['uid'] = uuid.uuid4().hex
            self._write_meta(meta_path, meta)
        self.source: str = meta.get('source', '')
        self.settings: dict = meta.get('settings', {})
        self.uid: Optional[str] = meta.get('uid')
        self._legacy_stamp = None if self.uid else os.stat(meta_path).st_mtime_ns

    @staticmethod
    def _write_meta(meta_path: str, meta: dict) -> None:
        with atomic_write(meta_path, 'w') as handle:
            json.dump(meta, handle, indent=2, sort_keys=True)

    @staticmethod
    def _read_meta(meta_path: str) -> dict:
        try:
            with open(meta_path, encoding='utf-8') as handle:
                meta = json.load(handle)
        except (OSError, ValueError, RecursionError) as error:
            raise SamWsssError(f'{meta_path}: cannot read ({error}); fix or re-create it') \
                from error
        if not isinstance(meta, dict) or not isinstance(meta.get('source', ''), str) or \
                not isinstance(meta.get('settings', {}), dict) or \
                not isinstance(meta.get('uid'), (str, type(None))):
            raise SamWsssError(f'{meta_path}: not a mask-store description ({{"source": str, '
                               '"settings": {...}, "uid": str}); re-create the store')
        return meta

    def identity(self) -> dict:
        """What derived outputs record about this store: path, uid, source and settings.

        A store regenerated in place gets a new uid, so outputs made from the old one are not
        resumed. A store of an older version (no uid) is known by its ``store.json`` time.
        """
        uid = self.uid or f'legacy-{self._legacy_stamp}'
        return {'path': osp.realpath(self.root), 'uid': uid, 'source': self.source,
                'settings': self.settings}

    def path(self, image_id: str) -> str:
        return osp.join(self.root, image_id + SUFFIX)

    def has(self, image_id: str) -> bool:
        """Whether the image's file exists (writes are atomic, so it is complete)."""
        return osp.isfile(self.path(image_id))

    def read(self, image_id: str) -> MaskSet:
        """The image's :class:`MaskSet`; :class:`SamWsssError` naming the file if it is missing,
        corrupt, or records another image, store or source (a file copied or renamed)."""
        path = self.path(image_id)
        if not osp.isfile(path):
            raise SamWsssError(f'{path}: no masks for image {image_id!r} in this store; '
                               'generate them first or check the id list')
        # A file within the limits is at most its payload (zlib adds a little) plus the header
        # and JSON record; a larger one is refused before it is read.
        max_size = self.limits.payload_bytes() + (self.limits.payload_bytes() >> 8) + MAX_RECORD
        with open(path, 'rb') as handle:
            data = handle.read(max_size + 1)
        if len(data) > max_size:
            raise SamWsssError(f'{path}: {os.path.getsize(path)} bytes, larger than any file '
                               f'within the mask-store caps ({max_size} bytes); delete it and '
                               're-create it, or raise the caps')
        mask_set = decode_mask_set(data, path, self.limits)
        if mask_set.image_id is None:  # written before files recorded their image: unchecked
            return mask_set
        fix = 'it was copied or renamed; delete it and generate the masks of this image again'
        if mask_set.image_id != image_id:
            raise SamWsssError(f'{path}: holds the masks of image {mask_set.image_id!r}, not '
                               f'{image_id!r}; {fix}')
        if mask_set.store_uid is not None and self.uid and mask_set.store_uid != self.uid:
            raise SamWsssError(f'{path}: written into another store (uid {mask_set.store_uid}, '
                               f'this store is {self.uid}); {fix}')
        if mask_set.source != self.source:
            raise SamWsssError(f'{path}: masks from {mask_set.source!r} in a store of '
                               f'{self.source!r}; {fix}')
        return mask_set

    def count_masks(self, image_id: str) -> int:
        """The number of masks in the image's file, from its header alone (cheap; the file is
        not checked: :meth:`read` does that)."""
        path = self.path(image_id)
        with open(path, 'rb') as handle:
            head = handle.read(len(MAGIC) + _HEADER.size)
        if len(head) < len(MAGIC) + _HEADER.size or head[:len(MAGIC)] != MAGIC:
            raise SamWsssError(f'{path}: not a mask-store file (bad magic or truncated); delete '
                               'it and generate the masks of this image again')
        return _HEADER.unpack_from(head, len(MAGIC))[3]

    def write(self, image_id: str, mask_set: MaskSet) -> None:
        """Write the image's masks atomically, recording ``image_id`` and the store's uid.

        Raises:
            SamWsssError: When ``mask_set.source`` is not the store's source.
        """
        if mask_set.source != self.source:
            raise SamWsssError(f'{self.path(image_id)}: masks from {mask_set.source!r} cannot '
                               f'go into a store of {self.source!r}; use another store')
        data = encode_mask_set(mask_set, image_id=image_id, store_uid=self.uid)
        with atomic_write(self.path(image_id)) as handle:
            handle.write(data)

    def ids(self) -> List[str]:
        """Sorted ids of the images in the store."""
        return sorted(name[:-len(SUFFIX)] for name in os.listdir(self.root)
                      if name.endswith(SUFFIX) and not name.startswith('.'))


def read_amg_folder(folder: str, image_id: str,
                    limits: MaskLimits = DEFAULT_MASK_LIMITS) -> MaskSet:
    """Read ``folder/<image_id>/<k>.png`` (0/255) and ``metadata.csv`` as written by amg.py.

    More masks than ``limits.max_masks``, or masks of more than ``limits.max_pixels`` (read
    from each PNG's header, before decoding), are refused.
    """
    mask_dir = osp.join(folder, image_id)
    if not osp.isdir(mask_dir):
        raise SamWsssError(f'{mask_dir}: mask folder not found; run segment-anything\'s '
                           'scripts/amg.py on this image or check --masks and the id list')
    names = [name for name in os.listdir(mask_dir) if name.endswith('.png')]
    indices = sorted(int(name[:-4]) for name in names if name[:-4].isdigit())
    if len(indices) != len(names) or indices != list(range(len(indices))):
        raise SamWsssError(f'{mask_dir}: mask files must be 0.png..N-1.png as amg.py writes')
    if not indices:
        raise SamWsssError(f'{mask_dir}: no mask PNGs; an image needs at least one mask file')
    if len(indices) > limits.max_masks:
        raise SamWsssError(f'{mask_dir}: {len(indices)} mask PNGs, above the cap of '
                           f'{limits.max_masks} masks per image')
    masks = _decode_amg_pngs(mask_dir, indices, limits.max_pixels)
    first = next(masks)  # the size of 0.png is the size of all
    runs, offsets = mask_sequence_to_runs(itertools.chain([first], masks), len(indices),
                                          *first.shape)
    predicted_iou = stability_score = point_coords = None
    csv_path = osp.join(mask_dir, 'metadata.csv')
    if osp.isfile(csv_path):
        predicted_iou, stability_score, point_coords = _read_amg_csv(csv_path, len(indices))
    return MaskSet.from_runs(runs, offsets, *first.shape, 'amg-import',
                             {'amg_folder': osp.abspath(folder)}, predicted_iou,
                             stability_score, point_coords)


def _decode_amg_pngs(mask_dir: str, indices: Sequence[int],
                     max_pixels: int) -> Iterator[np.ndarray]:
    """Yield ``mask_dir/<k>.png`` as ``(H, W)`` arrays (nonzero = mask), one at a time."""
    shape = None
    for index in indices:
        path = osp.join(mask_dir, f'{index}.png')
        check_png_chunks(path, 'mask PNG')
        try:
            with Image.open(path) as image:
                if image.size[0] * image.size[1] > max_pixels:
                    raise SamWsssError(f'{path}: mask PNG is {image.size[0]}x{image.size[1]} '
                                       f'px, above the mask-store cap of {max_pixels} px')
                image.load()
                if image.mode not in ('L', '1', 'P'):
                    raise SamWsssError(f'{path}: mask PNG mode {image.mode!r}, expected a '
                                       'single-channel 0/255 PNG as amg.py writes')
                mask = np.asarray(image)
        except (OSError, ValueError, SyntaxError, EOFError,
                Image.DecompressionBombError) as error:
            raise SamWsssError(f'{path}: cannot read mask PNG ({error}); re-create it') \
                from error
        if shape is None:
            shape = mask.shape
        elif mask.shape != shape:
            raise SamWsssError(f'{path}: mask is {mask.shape}, {osp.join(mask_dir, "0.png")} '
                               f'is {shape}; all masks of an image need one size')
        yield mask


def _read_amg_csv(path: str, num_masks: int):
    with open(path, encoding='utf-8') as handle:
        lines = [line.strip() for line in handle if line.strip()]
    if not lines or lines[0] != AMG_HEADER:
        raise SamWsssError(f'{path}: header is not amg.py\'s ({AMG_HEADER})')
    try:
        rows = np.array([[float(v) for v in line.split(',')] for line in lines[1:]],
                        dtype=np.float64).reshape(-1, 14)
    except ValueError as error:
        raise SamWsssError(f'{path}: bad row ({error}); re-create the metadata') from error
    if len(rows) != num_masks or np.any(rows[:, 0] != np.arange(num_masks)):
        raise SamWsssError(f'{path}: {len(rows)} rows with ids not 0..{num_masks - 1} for '
                           f'{num_masks} mask PNGs; the folder is incomplete')
    return rows[:, 8], rows[:, 9], rows[:, 6:8]


def amg_metadata_row(index: int, mask_set: MaskSet) -> str:
    """Mask ``index``'s ``metadata.csv`` row exactly as amg.py writes it: integer XYWH boxes in
    SAM's convention (width = x1 - x0, where ``MaskSet.bboxes`` are COCO's, one wider), floats
    as Python prints them, and the whole image as the crop box (the store keeps no crop)."""
    x0, y0, coco_w, coco_h = (int(v) for v in mask_set.bboxes[index])
    area = int(mask_set.areas[index])
    box = [x0, y0, max(coco_w - 1, 0), max(coco_h - 1, 0)] if area else [0, 0, 0, 0]
    values = [index, area, *box,
              *(float(v) for v in mask_set.point_coords[index]),
              float(mask_set.predicted_iou[index]), float(mask_set.stability_score[index]),
              0, 0, mask_set.width, mask_set.height]
    return ','.join(str(value) for value in values)


def write_amg_folder(folder: str, image_id: str, mask_set: MaskSet) -> None:
    """Write ``folder/<image_id>/<k>.png`` (0/255) and ``metadata.csv`` in amg.py's layout, with
    the values amg.py writes (see :func:`amg_metadata_row`)."""
    mask_dir = osp.join(folder, image_id)
    os.makedirs(mask_dir, exist_ok=True)
    rows = [AMG_HEADER]
    for index, mask in enumerate(mask_set.decode()):
        with atomic_write(osp.join(mask_dir, f'{index}.png')) as handle:
            Image.fromarray(mask.astype(np.uint8) * 255, mode='L').save(handle, format='PNG')
        rows.append(amg_metadata_row(index, mask_set))
    with atomic_write(osp.join(mask_dir, 'metadata.csv'), 'w') as handle:
        handle.write('\n'.join(rows))


def amg_folder_source(folder: str) -> str:
    """The mask source of an amg.py folder: the store's it was exported from (recorded by
    ``tools/mask_store.py export-amg`` in ``.provenance.json``), else ``'amg-import'``."""
    try:
        with open(osp.join(folder, '.provenance.json'), encoding='utf-8') as handle:
            record = json.load(handle)
        source = record['settings']['source'] if record.get('tool') == \
            'mask_store export-amg' else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        source = None
    return source if isinstance(source, str) and source else 'amg-import'


def open_mask_source(path: str,
                     limits: Optional[MaskLimits] = None) -> Callable[[str], MaskSet]:
    """A reader ``image_id -> MaskSet`` for a store directory or an amg.py output folder
    (a store's files are checked against ``limits``, default :data:`DEFAULT_MASK_LIMITS`).

    The returned callable has ``source`` (str), ``kind`` (``'store'`` or ``'amg'``) and
    ``identity`` (the store's :meth:`MaskStore.identity`, None for an amg.py folder).
    """
    identity = None
    if osp.isfile(osp.join(path, STORE_JSON)):
        store = MaskStore(path, limits=limits)
        reader = store.read
        source, kind, identity = store.source, 'store', store.identity()
    elif osp.isdir(path):
        source, kind = amg_folder_source(path), 'amg'
        reader = _AmgReader(path, source)
    else:
        raise SamWsssError(f'{path}: mask source not found; pass a mask store directory (with '
                           f'{STORE_JSON}) or a folder of amg.py outputs (<id>/<k>.png)')
    return _MaskSource(reader, source, kind, path, identity)


class _AmgReader:
    def __init__(self, folder: str, source: str = 'amg-import') -> None:
        self.folder, self.source = folder, source

    def __call__(self, image_id: str) -> MaskSet:
        mask_set = read_amg_folder(self.folder, image_id)
        mask_set.source = self.source
        return mask_set


class _MaskSource:
    """Picklable ``image_id -> MaskSet`` with ``source``, ``kind``, ``path`` and ``identity``."""

    def __init__(self, reader, source: str, kind: str, path: str,
                 identity: Optional[dict] = None) -> None:
        self.reader, self.source, self.kind, self.path = reader, source, kind, path
        self.identity = identity

    def __call__(self, image_id: str) -> MaskSet:
        return self.reader(image_id)

    def __repr__(self) -> str:
        return f'{self.kind} mask source {self.path!r} (source={self.source!r})'
