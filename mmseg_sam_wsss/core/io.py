"""File I/O shared by every stage: atomic writes, validated label PNGs, images and id lists.

Pure NumPy + Pillow; no mmseg. Every reader validates at the boundary and raises
:class:`~mmseg_sam_wsss.errors.SamWsssError` naming the file and the fix.
"""
import contextlib
import os
import os.path as osp
import tempfile
from typing import Iterator, List, Optional, Sequence

import numpy as np
from PIL import Image

from ..errors import SamWsssError

IGNORE_INDEX = 255

VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


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


@contextlib.contextmanager
def atomic_write(path: str, mode: str = 'wb') -> Iterator:
    """Open a temporary file next to ``path`` and rename it onto ``path`` on success.

    A killed job never leaves a truncated output behind: either the old file (or nothing) or the
    complete new one is there.
    """
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix='.tmp-', suffix=osp.basename(path))
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise


def atomic_save_npy(path: str, array: np.ndarray) -> None:
    """``np.save`` through :func:`atomic_write`."""
    with atomic_write(path) as handle:
        np.save(handle, array)


def read_label_png(path: str, num_classes: Optional[int] = None,
                   shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """Read a single-channel label PNG of class ids and check it.

    Palette PNGs are read as indices (VOC's ``SegmentationClass`` layout), grey PNGs as values.

    Args:
        path (str): The PNG file.
        num_classes (int, optional): When given, every value must be ``< num_classes`` or 255.
        shape (Sequence[int], optional): When given, the label must be ``(H, W) == shape[:2]``.

    Returns:
        np.ndarray: ``(H, W) uint8`` class ids, 255 = ignore.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: label file not found; check the directory and the id list')
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ('P', 'L', 'I', 'I;16'):
                raise SamWsssError(
                    f'{path}: label PNG has mode {image.mode!r}; expected a single-channel PNG '
                    'of class ids (mode P or L), not an RGB colour rendering')
            label = np.asarray(image)
    except SamWsssError:
        raise
    except (OSError, ValueError, SyntaxError) as error:
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


def write_label_png(path: str, label: np.ndarray, palette: Optional[np.ndarray] = VOC_PALETTE) -> None:
    """Write ``(H, W)`` class ids as a single-channel PNG (a palette PNG when ``palette``), atomically."""
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

    Grey and RGBA images are refused rather than silently converted, because a SAM run on them
    is almost always a data mistake; convert them to RGB first.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: image not found; check --img-dir and the id list')
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode not in ('RGB',):
                raise SamWsssError(
                    f'{path}: image mode is {mode!r}, expected RGB; convert it to 3-channel RGB '
                    '(e.g. PIL Image.convert("RGB")) or pass --skip-bad')
            array = np.asarray(image)
    except SamWsssError:
        raise
    except (OSError, ValueError, SyntaxError) as error:
        raise SamWsssError(f'{path}: cannot read image ({error}); the file is corrupt or '
                           'not an image') from error
    if max_pixels is not None and array.shape[0] * array.shape[1] > max_pixels:
        raise SamWsssError(
            f'{path}: image is {array.shape[1]}x{array.shape[0]} px, above the limit of '
            f'{max_pixels} px; resize it or raise --max-pixels')
    return array


def read_ids(path: str) -> List[str]:
    """Read an id list (one id per line, VOC ``ImageSets`` style); blank lines are skipped."""
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: id list not found; pass an existing --ids file')
    with open(path, encoding='utf-8') as handle:
        ids = [line.strip().split()[0] for line in handle if line.strip()]
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
