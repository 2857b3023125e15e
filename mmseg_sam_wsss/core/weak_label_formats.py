"""Real weak annotations in: parsers for published click, scribble and label-PNG formats.

Each format becomes the project's weak-label layout (``(H, W) uint8`` class ids, 255
unlabelled; points also as ``[(x, y, class_id), ...]`` for
:func:`~mmseg_sam_wsss.core.weak_labels.write_points_json`):

* ``whats-the-point``: the "What's the Point" VOC 2012 clicks (Bearman et al., ECCV 2016) as
  JSON ``{image_id: [{"x", "y", "cls", "rank"}, ...]}``, floats in pixels, ``x`` the column;
  background clicks (``cls`` 0) may come in a second file of the same layout.
* ``scribblesup``: ScribbleSup's PASCAL scribble XML (Lin et al., CVPR 2016), one file per
  image, ``<polygon><tag>class name</tag><point><X>..</X><Y>..</Y></point>...</polygon>``,
  drawn as polylines of a set thickness; class names map to ids (``background`` is 0).
* ``png``: any per-image label PNG (Scribbles4All, coarse labels, ...) with a value map and
  the value that means "unlabelled".

Coordinates are continuous pixel positions: pixel ``(row, col) = (floor(y), floor(x))``. A
coordinate on the image's far edge (``x == W`` or ``y == H``) belongs to the last pixel; one
outside ``[0, W] x [0, H]`` is an error naming the file. Pure NumPy + Pillow + the standard
library; no mmseg.

Every file is untrusted (see :func:`read_click_file`, :func:`parse_scribblesup_xml` and
:func:`remap_label` for what each refuses): coordinates must be finite numbers inside the
image, class ids integers in range, XML may not declare a DOCTYPE or entities (no external
entities, no "billion laughs"), and sizes are capped (:data:`MAX_XML_BYTES`,
:data:`MAX_SCRIBBLE_LENGTH`, the tools' ``--max-pixels``).
"""
import json
import math
import os.path as osp
import re
import xml.etree.ElementTree as ElementTree
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from ..errors import SamWsssError
from .io import IGNORE_INDEX, VOC_CLASSES
from .weak_labels import Point, disk

WEAK_LABEL_FORMATS = ('whats-the-point', 'scribblesup', 'png')
#: A ScribbleSup XML file larger than this is refused unread (the real ones are a few KiB).
MAX_XML_BYTES = 16 << 20
#: The scribbles of one image may be at most this many times ``H + W`` pixels long in all
#: (real ones are a few times): bounds the time and memory of drawing them.
MAX_SCRIBBLE_LENGTH = 100
# DOCTYPE and ENTITY declarations: the way to external entities and entity expansion bombs.
_XML_DECLARATIONS = re.compile(rb'<!\s*(DOCTYPE|ENTITY)', re.IGNORECASE)
#: A scribble: its class id and its ``(P, 2) float64`` ``(x, y)`` vertices in order.
Scribble = Tuple[int, np.ndarray]


def image_shape(path: str, max_pixels: Optional[int] = None) -> Tuple[int, int]:
    """``(H, W)`` of an image file, read from its header (the pixels are not decoded).

    Args:
        path (str): The image.
        max_pixels (int, optional): A header claiming more pixels is an error (None: no limit
            but Pillow's own decompression-bomb check).
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: image not found; check --img-dir, --img-suffix and the ids')
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise SamWsssError(f'{path}: cannot read the image header ({error}); the file is '
                           'corrupt or not an image') from error
    if max_pixels and width * height > max_pixels:
        raise SamWsssError(f'{path}: image is {width}x{height} px, above the limit of '
                           f'{max_pixels} px; resize it or raise --max-pixels')
    return int(height), int(width)


def pixel_index(value: float, size: int, axis: str, name: str) -> int:
    """The pixel holding continuous coordinate ``value`` on an axis of ``size`` pixels.

    Args:
        value (float): Coordinate in pixels, ``0 <= value <= size``.
        size (int): Pixels along the axis.
        axis (str): ``'x'`` or ``'y'``, for the error message.
        name (str): The source file (and image), for the error message.

    Returns:
        int: ``min(floor(value), size - 1)``.
    """
    if isinstance(value, bool) or not (isinstance(value, (int, float))
                                       and math.isfinite(value)):
        raise SamWsssError(f'{name}: {axis} = {value!r} is not a number (finite, not bool)')
    if not 0 <= value <= size:
        raise SamWsssError(f'{name}: {axis} = {value} is outside the image (0..{size}); fix the '
                           'annotation or pass --skip-bad to skip this image')
    return min(int(math.floor(value)), size - 1)


def _class_id(value, num_classes: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value != int(value) or not 0 <= value < num_classes:
        raise SamWsssError(f'{name}: class {value!r} is not a class id 0..{num_classes - 1}; '
                           'fix the annotation or --num-classes')
    return int(value)


def read_json(path: str) -> object:
    """A JSON file's content; :class:`SamWsssError` naming the file when missing or broken."""
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: annotation file not found')
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise SamWsssError(f'{path}: not valid JSON ({error})') from error


def read_click_file(path: str) -> Dict[str, list]:
    """A "What's the Point" click file: ``{image_id: [{"x", "y", "cls", ...}, ...]}``.

    Refused: a file that is not UTF-8 JSON (or nests too deep), a top level that is not an
    object of lists. Each click is checked when its image is converted
    (:func:`clicks_to_points`).
    """
    clicks = read_json(path)
    if not isinstance(clicks, dict) or not all(isinstance(value, list)
                                               for value in clicks.values()):
        raise SamWsssError(f'{path}: expected {{image_id: [{{"x", "y", "cls"}}, ...]}} '
                           '("What\'s the Point" layout)')
    return clicks


def clicks_to_points(clicks: Sequence[Mapping], shape: Sequence[int], num_classes: int = 21,
                     name: str = 'clicks') -> List[Point]:
    """"What's the Point" clicks of one image as integer points ``(x, y, class_id)``.

    Args:
        clicks (Sequence[Mapping]): ``{"x": float, "y": float, "cls": int, ...}`` each; other
            keys (``rank``) are ignored.
        shape (Sequence[int]): The image's ``(H, W)``.
        num_classes (int): ``cls`` must be below it. Default: 21 (VOC, 0 = background).
        name (str): Source file and image id, for error messages.

    Returns:
        list[tuple[int, int, int]]: One point per click, in the file's order.

    Raises:
        SamWsssError: A click that is not an object with ``x``, ``y``, ``cls``; a coordinate
            that is not a finite number (NaN, inf, a string, a bool) or lies outside
            ``[0, W] x [0, H]``; a ``cls`` that is not an integer class id below
            ``num_classes``.
    """
    height, width = int(shape[0]), int(shape[1])
    points = []
    for index, click in enumerate(clicks):
        where = f'{name} click {index}'
        if not isinstance(click, Mapping) or not {'x', 'y', 'cls'} <= set(click):
            raise SamWsssError(f'{where}: expected {{"x", "y", "cls"}}, got {click!r}')
        points.append((pixel_index(click['x'], width, 'x', where),
                       pixel_index(click['y'], height, 'y', where),
                       _class_id(click['cls'], num_classes, where)))
    return points


def class_name_map(class_names: Sequence[str] = VOC_CLASSES) -> Dict[str, int]:
    """Normalised class name (lower case, no spaces, ``-`` or ``_``) -> class id."""
    return {normalise_class_name(name): index for index, name in enumerate(class_names)}


def normalise_class_name(name: str) -> str:
    """``'Potted Plant'``, ``'potted_plant'`` and ``'pottedplant'`` all read ``pottedplant``."""
    return ''.join(char for char in name.lower() if char not in ' _-\t\n')


def read_scribblesup_file(path: str) -> bytes:
    """A ScribbleSup XML file's bytes; refused when missing or above :data:`MAX_XML_BYTES`."""
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: scribble file not found')
    with open(path, 'rb') as handle:
        data = handle.read(MAX_XML_BYTES + 1)
    if len(data) > MAX_XML_BYTES:
        raise SamWsssError(f'{path}: larger than {MAX_XML_BYTES} bytes; a ScribbleSup file is '
                           'a few KiB, is this the right file?')
    return data


def parse_scribblesup_xml(text: Union[str, bytes], class_ids: Mapping[str, int],
                          name: str = 'scribbles') -> List[Scribble]:
    """The scribbles of one ScribbleSup XML document.

    Every ``<polygon>`` (anywhere in the document) is one scribble: its ``<tag>`` names the
    class, its ``<point>`` children (``<X>``, ``<Y>``) are the vertices in order.

    Refused: a DOCTYPE or ENTITY declaration (checked before parsing, so no entity is ever
    expanded or fetched), XML that does not parse, a polygon without a known ``<tag>`` or
    without points, a ``<point>`` whose ``<X>``/``<Y>`` is missing or not a number. NaN, inf
    and out-of-image vertices are refused when drawn (:func:`polyline_pixels`).

    Args:
        text (str | bytes): The XML document (bytes honour its encoding declaration).
        class_ids (Mapping[str, int]): From :func:`class_name_map`.
        name (str): The file, for error messages.

    Returns:
        list[tuple[int, np.ndarray]]: ``(class_id, (P, 2) float64 (x, y))`` per polygon.
    """
    raw = text.encode('utf-8', 'surrogatepass') if isinstance(text, str) else bytes(text)
    if _XML_DECLARATIONS.search(raw) or _XML_DECLARATIONS.search(
            raw.decode('utf-16', 'ignore').encode('utf-8', 'ignore')):
        raise SamWsssError(f'{name}: the XML declares a DOCTYPE or an ENTITY, which ScribbleSup '
                           'files never do; refused (entities can read files or expand without '
                           'bound)')
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, ValueError, LookupError) as error:
        raise SamWsssError(f'{name}: not valid XML ({error})') from error
    scribbles = []
    for index, polygon in enumerate(root.iter('polygon')):
        tag = polygon.findtext('tag')
        if tag is None or not tag.strip():
            raise SamWsssError(f'{name}: polygon {index} has no <tag> class name')
        class_id = class_ids.get(normalise_class_name(tag))
        if class_id is None:
            raise SamWsssError(f'{name}: polygon {index}: unknown class name {tag.strip()!r}; '
                               'known: ' + ', '.join(sorted(class_ids)) + ' (--class-names)')
        vertices = []
        for point in polygon.iter('point'):
            try:
                vertices.append((float(point.findtext('X')), float(point.findtext('Y'))))
            except (TypeError, ValueError) as error:
                raise SamWsssError(f'{name}: polygon {index}: a <point> needs numeric <X> and '
                                   '<Y>') from error
        if not vertices:
            raise SamWsssError(f'{name}: polygon {index} ({tag.strip()}) has no <point>')
        scribbles.append((class_id, np.asarray(vertices, dtype=np.float64)))
    return scribbles


def polyline_pixels(vertices: np.ndarray, shape: Sequence[int],
                    name: str = 'scribble') -> np.ndarray:
    """The pixels a polyline passes through, sampled at most half a pixel apart.

    Args:
        vertices (np.ndarray): ``(P, 2)`` ``(x, y)`` continuous coordinates, in the image.
        shape (Sequence[int]): ``(H, W)``.
        name (str): For error messages.

    Returns:
        np.ndarray: ``(Q, 2) int64`` unique ``(row, col)``.
    """
    height, width = int(shape[0]), int(shape[1])
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    for x, y in vertices:
        pixel_index(float(x), width, 'x', name)
        pixel_index(float(y), height, 'y', name)
    samples = [vertices[:1]]
    for start, end in zip(vertices[:-1], vertices[1:]):
        steps = max(int(math.ceil(2 * np.abs(end - start).max())), 1)
        fractions = np.arange(1, steps + 1)[:, None] / steps
        samples.append(start + fractions * (end - start))
    points = np.concatenate(samples)
    cols = np.minimum(np.floor(points[:, 0]), width - 1).astype(np.int64)
    rows = np.minimum(np.floor(points[:, 1]), height - 1).astype(np.int64)
    return np.unique(np.stack([rows, cols], axis=1), axis=0)


def _polyline_length(vertices: np.ndarray) -> float:
    """Sum over segments of the longer side, the basis of :func:`polyline_pixels`' sampling."""
    steps = np.abs(np.diff(np.asarray(vertices, dtype=np.float64).reshape(-1, 2), axis=0))
    return float(steps.max(axis=1, initial=0.0).sum())


def scribbles_to_label(scribbles: Sequence[Scribble], shape: Sequence[int], thickness: int = 3,
                       name: str = 'scribbles') -> np.ndarray:
    """Draw scribbles as polylines ``thickness`` pixels wide (later scribbles win overlaps).

    The line is a disk of radius ``thickness // 2`` swept along the polyline, as the
    synthesised scribbles of :mod:`mmseg_sam_wsss.simulation.weak_label_synthesis` are.

    Args:
        scribbles (Sequence[Scribble]): From :func:`parse_scribblesup_xml`.
        shape (Sequence[int]): The image's ``(H, W)``.
        thickness (int): Line width in pixels, ``>= 1``. Default: 3.
        name (str): For error messages.

    Returns:
        np.ndarray: ``(H, W) uint8`` class ids, 255 unlabelled.
    """
    if thickness < 1:
        raise SamWsssError(f'scribble thickness must be >= 1, got {thickness}')
    height, width = int(shape[0]), int(shape[1])
    length = sum(_polyline_length(vertices) for _, vertices in scribbles)
    if length > MAX_SCRIBBLE_LENGTH * (height + width):  # NaN is refused when drawn
        raise SamWsssError(f'{name}: the scribbles are {length:.0f} px long, more than '
                           f'{MAX_SCRIBBLE_LENGTH} x (H + W) = '
                           f'{MAX_SCRIBBLE_LENGTH * (height + width)}; is this the file of '
                           'this image?')
    radius = thickness // 2
    # owner: 1 + the index of the latest scribble whose centre line passes through a pixel;
    # sweeping the brush with a maximum gives every pixel its latest covering scribble, so
    # later scribbles win overlaps at a cost of one image per brush offset, not per scribble.
    owner = np.zeros((height + 2 * radius, width + 2 * radius), dtype=np.int32)
    for index, (_, vertices) in enumerate(scribbles):
        pixels = polyline_pixels(vertices, shape, f'{name} polygon {index}')
        owner[pixels[:, 0] + radius, pixels[:, 1] + radius] = index + 1
    drawn = np.zeros((height, width), dtype=np.int32)
    for d_row, d_col in np.argwhere(disk(radius)):
        np.maximum(drawn, owner[d_row:d_row + height, d_col:d_col + width], out=drawn)
    classes = np.array([IGNORE_INDEX] + [class_id for class_id, _ in scribbles], np.uint8)
    return classes[drawn]


def parse_value_map(items: Sequence[str], flag: str = '--value-map') -> Dict[int, int]:
    """``SRC=DST`` items (integers 0..255) as a dict; :class:`SamWsssError` on a bad item."""
    value_map = {}
    for item in items:
        source, sep, target = item.partition('=')
        try:
            source_value, target_value = int(source), int(target)
        except ValueError:
            source_value = target_value = -1
        if not sep or not (0 <= source_value <= 255 and 0 <= target_value <= 255):
            raise SamWsssError(f'{flag} {item!r}: expected SRC=DST with integers 0..255')
        value_map[source_value] = target_value
    return value_map


def remap_label(label: np.ndarray, value_map: Optional[Mapping[int, int]] = None,
                ignore_value: Optional[int] = IGNORE_INDEX, num_classes: int = 21,
                name: str = 'label') -> np.ndarray:
    """A foreign label PNG's values as the project's class ids (255 unlabelled).

    Args:
        label (np.ndarray): ``(H, W)`` integer values 0..255.
        value_map (Mapping[int, int], optional): Source value -> class id (or 255); values not
            in it are kept. Default: none.
        ignore_value (int, optional): The source's "unlabelled" value, mapped to 255 (before
            ``value_map``). Default: 255.
        num_classes (int): Every resulting value must be a class id below it, or 255.
        name (str): The file, for error messages.

    Returns:
        np.ndarray: ``(H, W) uint8``.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise SamWsssError(f'{name}: a label must be (H, W), got {label.shape}')
    lookup = np.arange(256, dtype=np.uint8)
    if ignore_value is not None:
        lookup[ignore_value] = IGNORE_INDEX
    for source, target in (value_map or {}).items():
        lookup[source] = target
    remapped = lookup[label.astype(np.uint8)]
    bad = (remapped >= num_classes) & (remapped != IGNORE_INDEX)
    if bad.any():
        values = sorted({int(value) for value in np.unique(label[bad])})
        raise SamWsssError(f'{name}: values {values[:8]} map to no class id < {num_classes} '
                           'nor 255; give them with --value-map SRC=DST or --ignore-value')
    return remapped
