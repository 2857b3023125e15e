"""File I/O shared by every stage: atomic writes, validated label PNGs, images and id lists.

Pure NumPy + Pillow; no mmseg. Every reader validates at the boundary and raises
:class:`~mmseg_sam_wsss.errors.SamWsssError` naming the file and the fix.
"""
import contextlib
import os
import os.path as osp
import socket
import tempfile
import time
import zlib
from typing import Iterator, List, Optional, Sequence

import numpy as np
from PIL import Image

from ..errors import SamWsssError
from .output_paths import note_output

IGNORE_INDEX = 255
#: The largest image (H * W pixels) a tool reads or allocates unless ``--max-pixels`` says
#: otherwise: 4096 x 4096, well above VOC, COCO, Cityscapes and ADE20K.
DEFAULT_MAX_PIXELS = 4096 * 4096
# A model's predictions beside its class maps (tools/predict_labels.py writes them,
# tools/sesam_pseudo_labels.py reads them): per-pixel confidence and what made them.
CONF_SUFFIX = '_conf.png'
PREDICT_META_NAME = 'predict_meta.json'

VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


# Where VOC train_aug comes from, for the messages of every tool and dataset that needs it.
VOC_AUG_HELP = ('SegmentationClassAug/ and ImageSets/Segmentation/{trainaug,aug}.txt come from '
                'the SBD annotations through mmseg\'s tools/dataset_converters/voc_aug.py '
                '(README, "PASCAL VOC train_aug")')
VOC_AUG_ID_LISTS = ('trainaug.txt', 'aug.txt')


def voc_palette(num_colors: int = 256) -> np.ndarray:
    """PASCAL VOC's colour map (the bit-interleaving one), ``(num_colors, 3) uint8``."""
    palette = np.zeros((num_colors, 3), dtype=np.uint8)
    for index in range(num_colors):
        label, red, green, blue = index, 0, 0, 0
        for shift in range(7, -1, -1):
            red |= ((label >> 0) & 1) << shift
            green |= ((label >> 1) & 1) << shift
            blue |= ((label >> 2) & 1) << shift
            label >>= 3
        palette[index] = (red, green, blue)
    return palette


VOC_PALETTE = voc_palette()


class OutputWriteError(SamWsssError):
    """An output could not be written (read-only folder, full disk): stops a run even under
    ``--skip-bad``, because every later output would fail the same way."""


TEMP_PREFIX = '.tmp-'
# Temporaries are named ``.tmp-<host tag>-<pid>-<random><output name>``: a rerun can tell the
# ones of dead processes on this machine (a SIGKILL leaves them) from those being written now.
_HOST_TAG = f'{zlib.crc32(socket.gethostname().encode()):08x}'
# Temporaries of another machine, or of the older unnamed form, count as stale after this long.
STALE_TEMP_AGE_S = 3600.0


def _current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc``); elsewhere
    set and restored at once."""
    with contextlib.suppress(OSError, ValueError):
        with open('/proc/self/status', encoding='ascii') as handle:
            for line in handle:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator:
    """Open a temporary file next to ``path`` and rename it onto ``path`` on success.

    A killed job never leaves a truncated output behind: either the old file (or nothing) or the
    complete new one is there. Inside an output folder being listed (a tool's ``--out``), the
    path is appended to its list of outputs first (``core/output_paths.py``). The file gets the
    mode a plain ``open`` would give (``0o666 & ~umask``), not ``mkstemp``'s 0600.

    Raises:
        OutputWriteError: When the folder cannot be created or written (permissions, read-only
            file system, full disk), naming ``path``.
    """
    directory = osp.dirname(osp.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(dir=directory,
                                        prefix=f'{TEMP_PREFIX}{_HOST_TAG}-{os.getpid()}-',
                                        suffix=osp.basename(path))
    except OSError as error:
        raise _write_error(path, error) from error
    try:
        try:
            os.fchmod(fd, 0o666 & ~_current_umask())
            handle = os.fdopen(fd, mode)
        except BaseException:
            os.close(fd)
            raise
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        note_output(path)  # listed first: a kill never leaves an unlisted output
        os.replace(tmp_path, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        if isinstance(error, OSError):
            raise _write_error(path, error) from error
        raise


def _write_error(path: str, error: OSError) -> OutputWriteError:
    reason = error.strerror or str(error)
    return OutputWriteError(f'{path}: cannot write ({reason}); check that the output folder is '
                            'writable and the disk has free space, or pass another --out')


def remove_stale_temporaries(directory: str) -> int:
    """Remove the temporaries of :func:`atomic_write` that killed runs left in ``directory``.

    A temporary is stale when the process that made it (this machine, by pid) is gone, or, for
    other machines and unnamed ones, when it is older than :data:`STALE_TEMP_AGE_S`. Those of
    running processes (other ranks, other workers) are kept.

    Returns:
        int: How many were removed.
    """
    if not osp.isdir(directory):
        return 0
    removed = 0
    now = time.time()
    for name in os.listdir(directory):
        if not name.startswith(TEMP_PREFIX):
            continue
        path = osp.join(directory, name)
        parts = name[len(TEMP_PREFIX):].split('-', 2)
        owned_here = len(parts) == 3 and parts[0] == _HOST_TAG and parts[1].isdigit()
        try:
            stale = (not _pid_alive(int(parts[1])) if owned_here
                     else now - os.path.getmtime(path) > STALE_TEMP_AGE_S)
            if stale and osp.isfile(path):
                os.remove(path)
                removed += 1
        except FileNotFoundError:  # its writer finished (renamed it) meanwhile
            continue
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def atomic_save_npy(path: str, array: np.ndarray) -> None:
    """``np.save`` through :func:`atomic_write`."""
    with atomic_write(path) as handle:
        np.save(handle, array)


PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def check_png_chunks(path: str, what: str = 'image') -> None:
    """Raise unless every chunk of a PNG file fits in the file (other files pass unread).

    Pillow reads an image-data chunk in one piece of the length its header claims, so a
    200-byte PNG claiming a 2 GiB chunk makes it allocate 2 GiB. Walking the chunk headers
    first (no pixel data is read) refuses such a file with one line.
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as handle:
        if handle.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            return
        position = len(PNG_SIGNATURE)
        while position + 8 <= size:
            header = handle.read(8)
            length = int.from_bytes(header[:4], 'big')
            if position + 12 + length > size:
                raise SamWsssError(f'{path}: cannot read {what} (PNG chunk {header[4:]!r} '
                                   f'claims {length} bytes, {max(size - position - 8, 0)} '
                                   'remain); the file is truncated or corrupt, re-create it')
            if header[4:] == b'IEND':
                return
            position += 12 + length
            handle.seek(position)


def read_label_png(path: str, num_classes: Optional[int] = None,
                   shape: Optional[Sequence[int]] = None,
                   max_pixels: Optional[int] = None) -> np.ndarray:
    """Read a single-channel label PNG of class ids and check it.

    Palette PNGs are read as indices (VOC's ``SegmentationClass`` layout), grey PNGs as values.

    Args:
        path (str): The PNG file.
        num_classes (int, optional): When given, every value must be ``< num_classes`` or 255.
        shape (Sequence[int], optional): When given, the label must be ``(H, W) == shape[:2]``.
        max_pixels (int, optional): A header claiming more pixels (or, with ``shape``, another
            size) is refused before the pixels are decoded. Default: no limit but Pillow's.

    Returns:
        np.ndarray: ``(H, W) uint8`` class ids, 255 = ignore.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: label file not found; check the directory and the id list')
    check_png_chunks(path, 'label PNG')
    try:
        with Image.open(path) as image:
            width, height = image.size  # checked before the pixels are decoded
            if shape is not None and (height, width) != tuple(shape[:2]):
                raise SamWsssError(
                    f'{path}: label is {height}x{width} (HxW) but its image/masks are '
                    f'{shape[0]}x{shape[1]}; regenerate it at the image size')
            if max_pixels and width * height > max_pixels:
                raise SamWsssError(f'{path}: label is {width}x{height} px, above the limit of '
                                   f'{max_pixels} px; check the file or raise --max-pixels')
            image.load()
            if image.mode not in ('P', 'L', 'I', 'I;16'):
                raise SamWsssError(
                    f'{path}: label PNG has mode {image.mode!r}; expected a single-channel PNG '
                    'of class ids (mode P or L), not an RGB colour rendering')
            label = np.asarray(image)
    except SamWsssError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise SamWsssError(f'{path}: cannot read label PNG ({error}); re-create the file') \
            from error
    if label.dtype != np.uint8:
        if label.size and (label.min() < 0 or label.max() > 255):
            raise SamWsssError(f'{path}: label values outside 0..255; write class ids as uint8')
        label = label.astype(np.uint8)
    if shape is not None and tuple(label.shape) != tuple(shape[:2]):
        raise SamWsssError(
            f'{path}: label is {label.shape[0]}x{label.shape[1]} (HxW) but its image/masks are '
            f'{shape[0]}x{shape[1]}; regenerate it at the image size')
    if num_classes is not None:
        check_label_values(label, num_classes, path)
    return label


def check_label_values(label: np.ndarray, num_classes: int, name: str) -> None:
    """Raise unless every value of ``label`` is a class id ``< num_classes`` or 255."""
    bad = (label >= num_classes) & (label != IGNORE_INDEX)
    if bad.any():
        values = sorted(set(np.unique(label[bad]).tolist()))
        raise SamWsssError(
            f'{name}: label values {values[:8]} are not class ids < {num_classes} nor 255 '
            '(ignore); is this a colour PNG or a label of another dataset?')


def write_label_png(path: str, label: np.ndarray,
                    palette: Optional[np.ndarray] = VOC_PALETTE) -> None:
    """Write ``(H, W)`` class ids as a single-channel PNG (a palette PNG when ``palette``),
    atomically."""
    if label.ndim != 2:
        raise SamWsssError(f'{path}: a label must be (H, W), got shape {label.shape}')
    image = Image.fromarray(label.astype(np.uint8), mode='L')
    if palette is not None:
        image = image.convert('P')
        image.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    with atomic_write(path) as handle:
        image.save(handle, format='PNG')


def read_image(path: str, max_pixels: Optional[int] = None) -> np.ndarray:
    """Read an image file as ``(H, W, 3) uint8`` RGB.

    Greyscale images (mode ``L``: COCO has a few hundred such JPEGs) are read with the grey
    value in all three channels, as mmcv's ``LoadImageFromFile`` reads them for training. Other
    modes (RGBA, CMYK, palette, 16-bit) are refused rather than silently converted, because a
    SAM run on them is almost always a data mistake; convert them to RGB first.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: image not found; check --img-dir and the id list')
    check_png_chunks(path, 'image')
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode not in ('RGB', 'L'):
                raise SamWsssError(
                    f'{path}: image mode is {mode!r}, expected RGB or greyscale (L); convert it '
                    'to 3-channel RGB (e.g. PIL Image.convert("RGB")) or pass --skip-bad')
            array = np.asarray(image)
            if mode == 'L':
                array = np.repeat(array[:, :, None], 3, axis=2)
    except SamWsssError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise SamWsssError(f'{path}: cannot read image ({error}); the file is corrupt or '
                           'not an image') from error
    if max_pixels is not None and array.shape[0] * array.shape[1] > max_pixels:
        raise SamWsssError(
            f'{path}: image is {array.shape[1]}x{array.shape[0]} px, above the limit of '
            f'{max_pixels} px; resize it or raise --max-pixels')
    return array


def read_ids(path: str) -> List[str]:
    """Read an id list: one id per line (VOC ``ImageSets`` style), blank lines skipped.

    Only the line ends are stripped, so an id with inner spaces is kept whole.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: id list not found; pass an existing --ids file')
    try:
        with open(path, encoding='utf-8') as handle:
            ids = [line.rstrip('\r\n') for line in handle]
    except (OSError, UnicodeDecodeError) as error:
        raise SamWsssError(f'{path}: cannot read the id list ({error}); pass a UTF-8 text file '
                           'with one image id per line') from error
    ids = [image_id for image_id in ids if image_id.strip()]
    if not ids:
        raise SamWsssError(f'{path}: the id list is empty; it needs one image id per line')
    return ids


def list_ids(directory: str, suffix: str) -> List[str]:
    """Sorted ids of the files ``directory/<id><suffix>``."""
    if not osp.isdir(directory):
        raise SamWsssError(f'{directory}: directory not found')
    ids = sorted(name[:-len(suffix)] for name in os.listdir(directory)
                 if name.endswith(suffix) and not name.startswith('.'))
    if not ids:
        raise SamWsssError(f'{directory}: no *{suffix} files found; is this the right directory?')
    return ids
