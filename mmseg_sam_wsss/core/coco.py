"""MS-COCO 2014 as 81-class semantic segmentation (background + the 80 object categories), the
WSSS benchmark of SEPL and the CAM literature: label maps painted from the instance annotations.

Protocol (one place, used by ``tools/convert_coco.py``):

* Category ids 1-90 (with gaps) map to class ids 1-80 in id order (person 1, ..., toothbrush 80);
  0 is background. A category id or name that is not COCO's is an error naming the file.
* Non-crowd instances are painted largest first, so where two overlap the smaller one (usually
  the one in front) keeps its pixels.
* Crowd regions (``iscrowd=1``, an RLE over a group of objects) are ignore (255) wherever no
  non-crowd instance lies, or, with ``crowd='class'``, their category under the instances.
* Image tags (``cls_labels.json``): every category annotated in the image, crowd included: the
  image-level labels a tag-supervised method is given.
* Images without annotations are left out (train2014 82,783 -> 82,081 images, val2014 40,504 ->
  40,137: the splits of the WSSS literature).
* Degenerate objects: polygons of fewer than 3 points are dropped, and an object whose
  segmentation paints no pixel (none left, none given, or too thin to cover a pixel centre) is
  painted from its ``bbox`` (pixels ``floor(x)..ceil(x + w) - 1``, likewise in y). Without a
  box of positive size the image is refused, never tagged with a class its label lacks.

The file is untrusted: every field is checked before use (see :func:`read_instances` and
:func:`annotation_problem`), so pycocotools only ever sees finite coordinates inside the image
and RLEs whose runs add up to its size.

Pure NumPy + pycocotools (imported when masks are decoded); no mmseg.
"""
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import SamWsssError
from .io import DEFAULT_MAX_PIXELS, IGNORE_INDEX, voc_palette
from .rle import coco_string_to_counts

#: COCO's 80 object categories as ``(category id, name)``, in id order.
COCO_CATEGORIES = (
    (1, 'person'), (2, 'bicycle'), (3, 'car'), (4, 'motorcycle'), (5, 'airplane'), (6, 'bus'),
    (7, 'train'), (8, 'truck'), (9, 'boat'), (10, 'traffic light'), (11, 'fire hydrant'),
    (13, 'stop sign'), (14, 'parking meter'), (15, 'bench'), (16, 'bird'), (17, 'cat'),
    (18, 'dog'), (19, 'horse'), (20, 'sheep'), (21, 'cow'), (22, 'elephant'), (23, 'bear'),
    (24, 'zebra'), (25, 'giraffe'), (27, 'backpack'), (28, 'umbrella'), (31, 'handbag'),
    (32, 'tie'), (33, 'suitcase'), (34, 'frisbee'), (35, 'skis'), (36, 'snowboard'),
    (37, 'sports ball'), (38, 'kite'), (39, 'baseball bat'), (40, 'baseball glove'),
    (41, 'skateboard'), (42, 'surfboard'), (43, 'tennis racket'), (44, 'bottle'),
    (46, 'wine glass'), (47, 'cup'), (48, 'fork'), (49, 'knife'), (50, 'spoon'), (51, 'bowl'),
    (52, 'banana'), (53, 'apple'), (54, 'sandwich'), (55, 'orange'), (56, 'broccoli'),
    (57, 'carrot'), (58, 'hot dog'), (59, 'pizza'), (60, 'donut'), (61, 'cake'), (62, 'chair'),
    (63, 'couch'), (64, 'potted plant'), (65, 'bed'), (67, 'dining table'), (70, 'toilet'),
    (72, 'tv'), (73, 'laptop'), (74, 'mouse'), (75, 'remote'), (76, 'keyboard'),
    (77, 'cell phone'), (78, 'microwave'), (79, 'oven'), (80, 'toaster'), (81, 'sink'),
    (82, 'refrigerator'), (84, 'book'), (85, 'clock'), (86, 'vase'), (87, 'scissors'),
    (88, 'teddy bear'), (89, 'hair drier'), (90, 'toothbrush'))
#: The 81 classes of COCO-81: background, then the categories in id order.
COCO_CLASSES = ('background', ) + tuple(name for _, name in COCO_CATEGORIES)
#: Category id -> class id (1..80).
COCO_CLASS_OF_CATEGORY = {category_id: index + 1
                          for index, (category_id, _) in enumerate(COCO_CATEGORIES)}
#: The VOC colour map's first 81 colours (background black, as in VOC).
COCO_PALETTE = voc_palette(len(COCO_CLASSES))
CROWD_MODES = ('ignore', 'class')
#: How far (pixels) a polygon vertex or box may lie outside the image: COCO's own
#: annotations overshoot by rounding; pycocotools clips them.
EDGE_TOLERANCE = 1.0


@dataclass
class CocoImage:
    """One image of an instances file: its file name, size and annotations.

    ``problem`` is the one-line reason the image cannot be converted (a bad size or a bad
    annotation), None when it is fine.
    """

    image_id: int
    file_name: str
    height: int
    width: int
    annotations: List[dict] = field(default_factory=list)
    problem: Optional[str] = None

    @property
    def name(self) -> str:
        """The id used for label files and id lists: the file name without its extension."""
        return osp.splitext(osp.basename(self.file_name))[0]


def check_categories(categories: Sequence[Mapping], path: str) -> None:
    """Raise unless every category of the file is one of COCO's, under its COCO name."""
    names = dict(COCO_CATEGORIES)
    for category in categories:
        if not isinstance(category, Mapping):
            raise SamWsssError(f'{path}: a category is {category!r}, not {{"id", "name"}}; is '
                               'this a COCO instances file?')
        category_id, name = category.get('id'), category.get('name')
        if isinstance(category_id, bool) or category_id not in names:
            raise SamWsssError(f'{path}: category id {category_id!r} ({name!r}) is not one of '
                               "COCO's 80 (ids 1-90); convert_coco.py reads COCO 2014/2017 "
                               'instances files')
        if name != names[category_id]:
            raise SamWsssError(f'{path}: category {category_id} is {name!r}, COCO calls it '
                               f'{names[category_id]!r}; is this a COCO instances file?')


def _integer(value) -> Optional[int]:
    """``value`` as an int when it is a JSON integer (or an integral float), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def _finite_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and \
        math.isfinite(value)


def image_size_problem(height, width, max_pixels: Optional[int]) -> Optional[str]:
    """Why ``height`` x ``width`` is no image size (or above ``max_pixels``), else None."""
    height_int, width_int = _integer(height), _integer(width)
    if height_int is None or width_int is None or height_int < 1 or width_int < 1:
        return f'size {height!r}x{width!r} (HxW) is not two positive integers'
    if max_pixels and height_int * width_int > max_pixels:
        return (f'size {width_int}x{height_int} px is above the limit of {max_pixels} px '
                '(--max-pixels)')
    return None


def _polygon_problem(polygon, height: int, width: int) -> Optional[str]:
    if not isinstance(polygon, list) or not set(map(type, polygon)) <= {int, float}:
        return 'a polygon is not a list of numbers [x0, y0, x1, y1, ...]'
    if len(polygon) % 2:
        return f'a polygon has {len(polygon)} coordinates, an odd number'
    try:
        coords = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    except OverflowError:
        return 'a polygon coordinate is too large for a float'
    if not np.isfinite(coords).all():
        return 'a polygon has a NaN or infinite coordinate'
    low, high = -EDGE_TOLERANCE, np.array([width, height]) + EDGE_TOLERANCE
    if len(coords) and ((coords < low).any() or (coords > high).any()):
        return f'a polygon leaves the {width}x{height} image'
    return None


def _rle_problem(rle: Mapping, height: int, width: int) -> Optional[str]:
    size, counts = rle.get('size'), rle.get('counts')
    if not isinstance(size, list) or [_integer(v) for v in size] != [height, width]:
        return f'RLE size {size!r} is not the image\'s [{height}, {width}]'
    if isinstance(counts, str):
        try:
            counts = coco_string_to_counts(counts)
        except ValueError as error:
            return f'bad compressed RLE ({error})'
    elif not isinstance(counts, list) or any(
            isinstance(count, bool) or not isinstance(count, int) or count < 0
            for count in counts):
        return 'RLE counts are not a string nor a list of non-negative integers'
    if sum(counts) != height * width:
        return f'RLE runs add up to {sum(counts)}, not {height}x{width} = {height * width}'
    return None


def annotation_problem(annotation, height: int, width: int) -> Optional[str]:
    """Why an annotation of a ``height`` x ``width`` image cannot be painted, else None.

    Checks ``iscrowd`` (0/1), ``area`` (finite, >= 0), ``bbox`` (4 finite numbers, size >= 0,
    inside the image give or take :data:`EDGE_TOLERANCE`) and ``segmentation`` (polygons of
    finite coordinates, even in number, inside the image; or an RLE of the image's size whose
    runs add up to it). Missing ``area``, ``bbox`` or ``segmentation`` are allowed.
    """
    if not isinstance(annotation, Mapping):
        return f'annotation {annotation!r} is not an object'
    if annotation.get('iscrowd', 0) not in (0, 1):
        return f'iscrowd {annotation.get("iscrowd")!r} is not 0 or 1'
    if 'area' in annotation and not (_finite_number(annotation['area'])
                                     and annotation['area'] >= 0):
        return f'area {annotation["area"]!r} is not a number >= 0'
    bbox = annotation.get('bbox')
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(map(_finite_number, bbox)):
            return f'bbox {bbox!r} is not [x, y, width, height] of finite numbers'
        x, y, box_w, box_h = bbox
        if box_w < 0 or box_h < 0 or x < -EDGE_TOLERANCE or y < -EDGE_TOLERANCE or \
                x + box_w > width + EDGE_TOLERANCE or y + box_h > height + EDGE_TOLERANCE:
            return f'bbox {bbox} is not inside the {width}x{height} image'
    segmentation = annotation.get('segmentation')
    if isinstance(segmentation, dict):
        return _rle_problem(segmentation, height, width)
    if segmentation is not None and not isinstance(segmentation, list):
        return f'segmentation is {type(segmentation).__name__}, not polygons or an RLE'
    for polygon in segmentation or []:
        problem = _polygon_problem(polygon, height, width)
        if problem:
            return problem
    if not any(len(polygon) >= 6 for polygon in segmentation or []) and not (
            bbox is not None and bbox[2] > 0 and bbox[3] > 0):
        return ('it paints no pixel (no polygon of 3 or more points, no box of positive '
                'size), yet tags its image')
    return None


def _load_json(path: str) -> dict:
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: annotation file not found; pass --ann '
                           'annotations/instances_train2014.json (or val2014)')
    try:
        with open(path, encoding='utf-8') as handle:
            raw = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SamWsssError(f'{path}: cannot read the instances JSON ({error}); download it '
                           'again') from error
    if not isinstance(raw, dict) or not all(isinstance(raw.get(key), list) for key in
                                            ('images', 'annotations', 'categories')):
        raise SamWsssError(f'{path}: not a COCO instances file; expected an object with the '
                           'lists "images", "annotations" and "categories"')
    return raw


def _read_image_record(image, path: str, max_pixels: Optional[int]) -> CocoImage:
    """One ``images`` entry as a :class:`CocoImage`; a bad size becomes its ``problem``."""
    if not isinstance(image, Mapping):
        raise SamWsssError(f'{path}: an image entry is {image!r}, not an object; is this a '
                           'COCO instances file?')
    image_id, file_name = _integer(image.get('id')), image.get('file_name')
    if image_id is None or not isinstance(file_name, str) or \
            osp.splitext(osp.basename(file_name))[0] in ('', '.', '..'):
        raise SamWsssError(f'{path}: image entry {image.get("id")!r} needs an integer "id" '
                           f'and a "file_name" (got {file_name!r})')
    height, width = image.get('height'), image.get('width')
    problem = image_size_problem(height, width, max_pixels)
    coco_image = CocoImage(image_id, file_name, _integer(height) or 0, _integer(width) or 0)
    if problem:
        coco_image.problem = f'{path}: image {coco_image.name!r} (id {image_id}): {problem}'
    return coco_image


def read_instances(path: str,
                   max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> Dict[str, CocoImage]:
    """Read a COCO instances JSON into ``{image name: CocoImage}`` (all images, in file order).

    Every field is checked before use. Problems of the file as a whole raise; problems of one
    image (its size, or any of its annotations: see :func:`annotation_problem`) are kept as
    that image's ``problem`` for the caller to stop or skip on.

    Args:
        path (str): The instances JSON.
        max_pixels (int, optional): Larger images are a problem (None or 0: no limit).
            Default: :data:`~mmseg_sam_wsss.core.io.DEFAULT_MAX_PIXELS`.

    Raises:
        SamWsssError: A missing or unreadable file, missing keys, two images with one id or
            name, an annotation of an unknown image or of a category that is not COCO's; the
            message names the file.
    """
    raw = _load_json(path)
    check_categories(raw['categories'], path)
    images: Dict[int, CocoImage] = {}
    for image in raw['images']:
        coco_image = _read_image_record(image, path, max_pixels)
        if coco_image.image_id in images:
            raise SamWsssError(f'{path}: two images have id {coco_image.image_id} '
                               f'({images[coco_image.image_id].file_name!r} and '
                               f'{coco_image.file_name!r}); each image needs its own id')
        images[coco_image.image_id] = coco_image
    for annotation in raw['annotations']:
        if not isinstance(annotation, Mapping):
            raise SamWsssError(f'{path}: an annotation is {annotation!r}, not an object')
        image_id = annotation.get('image_id')
        image = images.get(image_id) if _integer(image_id) == image_id and not isinstance(
            image_id, bool) else None
        if image is None:
            raise SamWsssError(f'{path}: annotation {annotation.get("id")!r} is of image '
                               f'{image_id!r}, which the file does not list')
        category_id = annotation.get('category_id')
        if _integer(category_id) != category_id or isinstance(category_id, bool) or \
                category_id not in COCO_CLASS_OF_CATEGORY:
            raise SamWsssError(f'{path}: annotation {annotation.get("id")!r} has category id '
                               f'{category_id!r}, not one of COCO\'s 80 (ids 1-90)')
        image.annotations.append(annotation)
        if image.problem is None:
            problem = annotation_problem(annotation, image.height, image.width)
            if problem:
                image.problem = (f'{path}: image {image.name!r} (id {image.image_id}), '
                                 f'annotation {annotation.get("id")!r}: {problem}')
    by_name = {}
    for image in images.values():
        if image.name in by_name:
            raise SamWsssError(f'{path}: two images are named {image.name!r}; ids must be '
                               'unique file names')
        by_name[image.name] = image
    return by_name


def box_mask(annotation: Mapping, height: int, width: int) -> np.ndarray:
    """The pixels of an annotation's ``bbox`` (``floor(x)..ceil(x + w) - 1``, likewise in y,
    clipped to the image) as ``(H, W) bool``; empty without a box of positive size."""
    mask = np.zeros((height, width), bool)
    bbox = annotation.get('bbox')
    if isinstance(bbox, list) and len(bbox) == 4 and all(map(_finite_number, bbox)) and \
            bbox[2] > 0 and bbox[3] > 0:
        x0, y0 = max(int(math.floor(bbox[0])), 0), max(int(math.floor(bbox[1])), 0)
        x1 = min(int(math.ceil(bbox[0] + bbox[2])), width)
        y1 = min(int(math.ceil(bbox[1] + bbox[3])), height)
        mask[y0:y1, x0:x1] = True
    return mask


def decode_segmentation(annotation: Mapping, height: int, width: int,
                        name: str = 'annotation') -> np.ndarray:
    """An annotation's ``segmentation`` (polygons, RLE or compressed RLE) as ``(H, W) bool``.

    Empty when the segmentation paints no pixel (see :func:`object_mask` for the box fallback).
    Checked by :func:`annotation_problem` first, so pycocotools never sees unchecked data.
    """
    from pycocotools import mask as mask_utils  # 0.3 s: only when masks are decoded

    problem = annotation_problem(annotation, height, width)
    if problem:
        raise SamWsssError(f'{name}: annotation {annotation.get("id")!r} has a bad '
                           f'segmentation ({problem}); expected polygons or an RLE')
    segmentation = annotation.get('segmentation')
    if isinstance(segmentation, list):  # polygons [[x0, y0, x1, y1, ...], ...]
        polygons = [polygon for polygon in segmentation if len(polygon) >= 6]
        if not polygons:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation['counts'], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict):
        rle = {'size': [height, width], 'counts': segmentation['counts'].encode('ascii')}
    else:
        return np.zeros((height, width), bool)
    mask = mask_utils.decode(rle)
    return mask.reshape(height, width).astype(bool)


def object_mask(annotation: Mapping, height: int, width: int,
                name: str = 'annotation') -> np.ndarray:
    """The pixels to paint for an annotation: its segmentation, or its box when the
    segmentation paints none (module docstring, "Degenerate objects").

    Raises:
        SamWsssError: When neither paints a pixel: the image would be tagged with a class its
            label lacks.
    """
    mask = decode_segmentation(annotation, height, width, name)
    if not mask.any():
        mask = box_mask(annotation, height, width)
    if not mask.any():
        category = COCO_CLASSES[COCO_CLASS_OF_CATEGORY[annotation['category_id']]]
        raise SamWsssError(f'{name}: annotation {annotation.get("id")!r} ({category}) paints '
                           'no pixel and has no box of positive size, yet tags its image; '
                           'fix or delete the annotation, or pass --skip-bad')
    return mask


def instances_to_label(image: CocoImage, crowd: str = 'ignore',
                       name: str = 'annotations') -> np.ndarray:
    """Paint an image's instances into an 81-class label map (see the module docstring).

    Args:
        image (CocoImage): The image and its annotations.
        crowd (str): ``'ignore'`` (crowd regions are 255 where no instance lies, default) or
            ``'class'`` (painted with their category, under the instances).
        name (str): The annotation file, for error messages.

    Returns:
        np.ndarray: ``(H, W) uint8`` class ids 0..80, 255 = ignore.
    """
    if crowd not in CROWD_MODES:
        raise SamWsssError(f'crowd={crowd!r}: expected one of {CROWD_MODES}')
    if image.problem:
        raise SamWsssError(image.problem)
    label = np.zeros((image.height, image.width), dtype=np.uint8)
    crowds = [ann for ann in image.annotations if ann.get('iscrowd', 0)]
    instances = [ann for ann in image.annotations if not ann.get('iscrowd', 0)]
    for annotation in crowds:
        mask = object_mask(annotation, image.height, image.width, name)
        label[mask] = (IGNORE_INDEX if crowd == 'ignore'
                       else COCO_CLASS_OF_CATEGORY[annotation['category_id']])
    # Largest first: a smaller instance in front keeps its pixels. Ties keep file order.
    order = sorted(range(len(instances)), key=lambda index: -float(
        instances[index].get('area', 0.0)))
    for index in order:
        annotation = instances[index]
        mask = object_mask(annotation, image.height, image.width, name)
        label[mask] = COCO_CLASS_OF_CATEGORY[annotation['category_id']]
    return label


def image_tags(image: CocoImage) -> List[int]:
    """The image-level tags: class ids of every annotated category, crowd included, sorted."""
    return sorted({COCO_CLASS_OF_CATEGORY[ann['category_id']] for ann in image.annotations})


def split_images(images: Mapping[str, CocoImage],
                 keep_empty: bool = False) -> Tuple[List[str], int]:
    """The sorted image names to convert, and how many were left out for having no annotation
    (images with a ``problem`` are neither: the caller reports them)."""
    good = [name for name, image in images.items() if not image.problem]
    names = sorted(name for name in good if keep_empty or images[name].annotations)
    return names, len(good) - len(names)
