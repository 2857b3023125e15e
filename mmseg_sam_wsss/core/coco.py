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

Pure NumPy + pycocotools (imported when masks are decoded); no mmseg.
"""
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..errors import SamWsssError
from .io import IGNORE_INDEX, voc_palette

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


@dataclass
class CocoImage:
    """One image of an instances file: its file name, size and annotations."""

    image_id: int
    file_name: str
    height: int
    width: int
    annotations: List[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The id used for label files and id lists: the file name without its extension."""
        return osp.splitext(osp.basename(self.file_name))[0]


def check_categories(categories: Sequence[Mapping], path: str) -> None:
    """Raise unless every category of the file is one of COCO's, under its COCO name."""
    names = dict(COCO_CATEGORIES)
    for category in categories:
        category_id, name = category.get('id'), category.get('name')
        if category_id not in names:
            raise SamWsssError(f'{path}: category id {category_id!r} ({name!r}) is not one of '
                               "COCO's 80 (ids 1-90); convert_coco.py reads COCO 2014/2017 "
                               'instances files')
        if name != names[category_id]:
            raise SamWsssError(f'{path}: category {category_id} is {name!r}, COCO calls it '
                               f'{names[category_id]!r}; is this a COCO instances file?')


def read_instances(path: str) -> Dict[str, CocoImage]:
    """Read a COCO instances JSON into ``{image name: CocoImage}`` (all images, in file order).

    Raises:
        SamWsssError: A missing or unreadable file, missing keys, an annotation of an unknown
            image or of a category that is not COCO's; the message names the file.
    """
    if not osp.isfile(path):
        raise SamWsssError(f'{path}: annotation file not found; pass --ann '
                           'annotations/instances_train2014.json (or val2014)')
    try:
        with open(path, encoding='utf-8') as handle:
            raw = json.load(handle)
        check_categories(raw['categories'], path)
        images = {}
        for image in raw['images']:
            coco_image = CocoImage(int(image['id']), str(image['file_name']),
                                   int(image['height']), int(image['width']))
            images[coco_image.image_id] = coco_image
        for annotation in raw['annotations']:
            image = images.get(annotation['image_id'])
            if image is None:
                raise SamWsssError(f'{path}: annotation {annotation.get("id")} is of image '
                                   f'{annotation["image_id"]}, which the file does not list')
            if annotation['category_id'] not in COCO_CLASS_OF_CATEGORY:
                raise SamWsssError(f'{path}: annotation {annotation.get("id")} has category id '
                                   f'{annotation["category_id"]}, not one of COCO\'s 80 '
                                   '(ids 1-90)')
            image.annotations.append(annotation)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise SamWsssError(f'{path}: cannot read the instances JSON ({error}); download it '
                           'again') from error
    except (KeyError, TypeError) as error:
        raise SamWsssError(f'{path}: not a COCO instances file (missing or bad {error}); '
                           'expected "images", "annotations" and "categories"') from error
    by_name = {}
    for image in images.values():
        if image.name in by_name:
            raise SamWsssError(f'{path}: two images are named {image.name!r}; ids must be '
                               'unique file names')
        by_name[image.name] = image
    return by_name


def decode_segmentation(annotation: Mapping, height: int, width: int,
                        name: str = 'annotation') -> np.ndarray:
    """An annotation's ``segmentation`` (polygons, RLE or compressed RLE) as ``(H, W) bool``."""
    from pycocotools import mask as mask_utils  # 0.3 s: only when masks are decoded

    segmentation = annotation.get('segmentation')
    try:
        if isinstance(segmentation, list):  # polygons [[x0, y0, x1, y1, ...], ...]
            polygons = [polygon for polygon in segmentation if len(polygon) >= 6]
            if not polygons:
                return np.zeros((height, width), bool)
            rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        elif isinstance(segmentation, dict) and isinstance(segmentation.get('counts'), list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        elif isinstance(segmentation, dict):
            rle = dict(segmentation)
            if isinstance(rle['counts'], str):
                rle['counts'] = rle['counts'].encode('ascii')
        else:
            raise TypeError(f'segmentation is {type(segmentation).__name__}')
        mask = mask_utils.decode(rle)
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise SamWsssError(f'{name}: annotation {annotation.get("id")} has a bad segmentation '
                           f'({error}); expected polygons or an RLE') from error
    if mask.shape[:2] != (height, width):
        raise SamWsssError(f'{name}: annotation {annotation.get("id")} is '
                           f'{mask.shape[0]}x{mask.shape[1]} (HxW) but its image is '
                           f'{height}x{width}; the RLE size is wrong')
    return mask.astype(bool)


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
    label = np.zeros((image.height, image.width), dtype=np.uint8)
    crowds = [ann for ann in image.annotations if ann.get('iscrowd', 0)]
    instances = [ann for ann in image.annotations if not ann.get('iscrowd', 0)]
    for annotation in crowds:
        mask = decode_segmentation(annotation, image.height, image.width, name)
        label[mask] = (IGNORE_INDEX if crowd == 'ignore'
                       else COCO_CLASS_OF_CATEGORY[annotation['category_id']])
    # Largest first: a smaller instance in front keeps its pixels. Ties keep file order.
    order = sorted(range(len(instances)), key=lambda index: -float(
        instances[index].get('area', 0.0)))
    for index in order:
        annotation = instances[index]
        mask = decode_segmentation(annotation, image.height, image.width, name)
        label[mask] = COCO_CLASS_OF_CATEGORY[annotation['category_id']]
    return label


def image_tags(image: CocoImage) -> List[int]:
    """The image-level tags: class ids of every annotated category, crowd included, sorted."""
    return sorted({COCO_CLASS_OF_CATEGORY[ann['category_id']] for ann in image.annotations})


def split_images(images: Mapping[str, CocoImage],
                 keep_empty: bool = False) -> Tuple[List[str], int]:
    """The sorted image names to convert, and how many were left out for having no annotation."""
    names = sorted(name for name, image in images.items()
                   if keep_empty or image.annotations)
    return names, len(images) - len(names)
