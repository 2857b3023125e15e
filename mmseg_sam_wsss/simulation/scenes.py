"""Procedural shape scenes for the demo: a VOC-layout dataset that needs no download.

Each scene is a textured background with 1 to 4 textured shapes (disc, square, triangle, ring,
star) at random positions, sizes and rotations. Later shapes cover earlier ones and the ground
truth holds only the visible parts. A shape's colour follows a class-typical hue with jitter
(and sometimes a random hue), so a small CNN must look at shape but can learn it from scratch.
Several instances of one class in an image are common, so object-aware masks matter.

Pure NumPy/scipy/skimage/Pillow. Every scene is a function of ``(seed, split, index)`` only, so
the dataset is identical under the same seed whatever order or rerun produced it.
"""
import colorsys
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.draw import polygon2mask

from ..errors import SamWsssError
from ..core.io import IGNORE_INDEX, VOC_PALETTE, atomic_write, read_label_png, write_label_png

SHAPE_CLASSES = ('background', 'disc', 'square', 'triangle', 'ring', 'star')
# Class-typical hue of each foreground class (index 1..5), in [0, 1).
CLASS_HUES = (None, 0.0, 0.58, 0.33, 0.13, 0.78)
SPLITS = ('train', 'val')


@dataclass
class Scene:
    """One generated scene.

    Attributes:
        image (np.ndarray): ``(H, W, 3) uint8`` RGB image.
        label (np.ndarray): ``(H, W) uint8`` class ids of the visible parts, 255 = ignore band.
        instance (np.ndarray): ``(H, W) uint8`` visible instance ids (1..N in painting order,
            0 = background); instances hidden completely do not appear.
        object_class_ids (list[int]): class id of every painted object, in painting order.
        object_masks (np.ndarray): ``(N, H, W) bool`` full (amodal) mask of every painted
            object, in painting order, before occlusion.
    """
    image: np.ndarray
    label: np.ndarray
    instance: np.ndarray
    object_class_ids: List[int]
    object_masks: np.ndarray


def shape_mask(shape_name: str, size: int, center: Tuple[float, float], radius: float,
               angle: float) -> np.ndarray:
    """Rasterise one shape.

    Args:
        shape_name (str): One of ``SHAPE_CLASSES[1:]``.
        size (int): Side of the square canvas in pixels.
        center (tuple[float, float]): ``(row, col)`` of the centre in pixels.
        radius (float): Outer radius in pixels (circumradius for polygons).
        angle (float): Rotation in radians (ignored by disc and ring).

    Returns:
        np.ndarray: ``(size, size) bool`` mask of the shape.
    """
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    dist = np.hypot(rows - center[0], cols - center[1])
    if shape_name == 'disc':
        return dist <= radius
    if shape_name == 'ring':
        return (dist <= radius) & (dist >= 0.55 * radius)
    if shape_name == 'square':
        vertex_angles, vertex_radii = np.arange(4) * np.pi / 2 + np.pi / 4, np.full(4, radius)
    elif shape_name == 'triangle':
        vertex_angles, vertex_radii = np.arange(3) * 2 * np.pi / 3, np.full(3, radius * 1.1)
    elif shape_name == 'star':
        vertex_angles = np.arange(10) * np.pi / 5
        vertex_radii = np.where(np.arange(10) % 2 == 0, radius * 1.1, radius * 0.45)
    else:
        raise SamWsssError(f'unknown shape {shape_name!r}; use one of {SHAPE_CLASSES[1:]}')
    vertex_angles = vertex_angles + angle
    vertices = np.stack([center[0] + vertex_radii * np.sin(vertex_angles),
                         center[1] + vertex_radii * np.cos(vertex_angles)], axis=1)
    return polygon2mask((size, size), vertices)


def _hsv_colour(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def _texture(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    """A ``(size, size) float32`` pattern in [0, 1]: smooth noise, stripes or checker."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == 'noise':
        cells = int(rng.integers(3, 9))
        coarse = rng.random((cells, cells)).astype(np.float32)
        pattern = ndimage.zoom(coarse, size / cells, order=1)[:size, :size]
    elif kind == 'stripes':
        theta, period = rng.uniform(0, np.pi), rng.uniform(5, 16)
        phase = (rows * np.sin(theta) + cols * np.cos(theta)) / period
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
    elif kind == 'checker':
        cell = int(rng.integers(4, 12))
        pattern = ((rows // cell + cols // cell) % 2).astype(np.float32)
    elif kind == 'gradient':
        theta = rng.uniform(0, 2 * np.pi)
        ramp = rows * np.sin(theta) + cols * np.cos(theta)
        pattern = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    else:
        raise SamWsssError(f'unknown texture {kind!r}')
    return pattern.astype(np.float32)


def ignore_band(instance: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width // 2`` (at least 1) of a border between two different instances.

    Args:
        instance (np.ndarray): ``(H, W)`` integer instance ids, 0 = background.
        width (int): Band width in pixels; 0 gives an empty band.

    Returns:
        np.ndarray: ``(H, W) bool``, True on the band.
    """
    if width <= 0:
        return np.zeros(instance.shape, dtype=bool)
    edge = ndimage.grey_dilation(instance, size=3) != ndimage.grey_erosion(instance, size=3)
    extra = width // 2 - 1  # the edge is already 2 px wide (both sides of the border)
    return ndimage.binary_dilation(edge, iterations=extra) if extra > 0 else edge


class SceneGenerator:
    """Draws procedural shape scenes; every threshold is a constructor argument.

    Args:
        size (int): Image side in pixels. Default: 128.
        min_objects (int): Fewest shapes per scene. Default: 1.
        max_objects (int): Most shapes per scene. Default: 4.
        min_radius (float): Smallest shape radius as a fraction of ``size``. Default: 0.12.
        max_radius (float): Largest shape radius as a fraction of ``size``. Default: 0.26.
        hue_jitter (float): Largest deviation from the class hue (hue in [0, 1)). Default: 0.06.
        random_hue_prob (float): Chance that a shape takes a random hue instead. Default: 0.15.
        repeat_prob (float): Chance that a shape repeats the class of an earlier shape of the
            scene, so multiple instances of a class are common. Default: 0.35.
        ignore_width (int): Width of the 255 band around instance borders (VOC has about 5);
            0 turns it off. Default: 0.
        noise_std (float): Standard deviation of the pixel noise (0..255 scale). Default: 6.
    """

    def __init__(self, size: int = 128, min_objects: int = 1, max_objects: int = 4,
                 min_radius: float = 0.12, max_radius: float = 0.26, hue_jitter: float = 0.06,
                 random_hue_prob: float = 0.15, repeat_prob: float = 0.35, ignore_width: int = 0,
                 noise_std: float = 6.0) -> None:
        if size < 32:
            raise SamWsssError(f'--size {size} is too small for readable shapes; use >= 32')
        if not 1 <= min_objects <= max_objects:
            raise SamWsssError(f'need 1 <= min_objects <= max_objects, got {min_objects}, '
                               f'{max_objects}')
        if not 0 < min_radius <= max_radius < 0.5:
            raise SamWsssError(f'need 0 < min_radius <= max_radius < 0.5, got {min_radius}, '
                               f'{max_radius}')
        self.size = size
        self.min_objects = min_objects
        self.max_objects = max_objects
        self.min_radius = min_radius
        self.max_radius = max_radius
        self.hue_jitter = hue_jitter
        self.random_hue_prob = random_hue_prob
        self.repeat_prob = repeat_prob
        self.ignore_width = ignore_width
        self.noise_std = noise_std

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        kind = rng.choice(['noise', 'stripes', 'gradient'])
        pattern = _texture(rng, self.size, kind)[..., None]
        hue = rng.random()
        dark = _hsv_colour(hue, rng.uniform(0.05, 0.35), rng.uniform(0.25, 0.55))
        light = _hsv_colour(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.05, 0.35),
                            rng.uniform(0.55, 0.9))
        return dark + (light - dark) * pattern

    def _object_colour(self, rng: np.random.Generator, class_id: int) -> Tuple[np.ndarray,
                                                                                np.ndarray]:
        if rng.random() < self.random_hue_prob:
            hue = rng.random()
        else:
            hue = CLASS_HUES[class_id] + rng.uniform(-self.hue_jitter, self.hue_jitter)
        saturation, value = rng.uniform(0.6, 1.0), rng.uniform(0.75, 1.0)
        bright = _hsv_colour(hue, saturation, value)
        return bright * rng.uniform(0.45, 0.7), bright

    def generate(self, rng: np.random.Generator) -> Scene:
        """Draw one scene from ``rng``.

        Args:
            rng (np.random.Generator): The scene's own generator (see :func:`scene_rng`).

        Returns:
            Scene: image, visible class label, visible instances and the painted classes.
        """
        size = self.size
        image = self._background(rng)
        label = np.zeros((size, size), dtype=np.uint8)
        instance = np.zeros((size, size), dtype=np.uint8)
        num_objects = int(rng.integers(self.min_objects, self.max_objects + 1))
        object_class_ids: List[int] = []
        object_masks = np.zeros((num_objects, size, size), dtype=bool)
        for index in range(num_objects):
            if object_class_ids and rng.random() < self.repeat_prob:
                class_id = int(rng.choice(object_class_ids))
            else:
                class_id = int(rng.integers(1, len(SHAPE_CLASSES)))
            radius = rng.uniform(self.min_radius, self.max_radius) * size
            margin = 0.6 * radius
            center = (rng.uniform(margin, size - margin), rng.uniform(margin, size - margin))
            mask = shape_mask(SHAPE_CLASSES[class_id], size, center, radius,
                              rng.uniform(0, 2 * np.pi))
            dark, bright = self._object_colour(rng, class_id)
            pattern = _texture(rng, size, rng.choice(['noise', 'stripes', 'checker']))
            # Keep the texture's contrast moderate so the shape's outline stays the cue.
            pattern = 0.55 + 0.45 * pattern
            image[mask] = (dark + (bright - dark) * pattern[..., None])[mask]
            label[mask] = class_id
            instance[mask] = index + 1
            object_class_ids.append(class_id)
            object_masks[index] = mask
        image = image * 255.0 + rng.normal(0.0, self.noise_std, image.shape)
        label[ignore_band(instance, self.ignore_width)] = IGNORE_INDEX
        return Scene(image=np.clip(image, 0, 255).astype(np.uint8), label=label,
                     instance=instance, object_class_ids=object_class_ids,
                     object_masks=object_masks)


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of ``split``: depends on nothing else."""
    if split not in SPLITS:
        raise SamWsssError(f'unknown split {split!r}; use one of {SPLITS}')
    return np.random.default_rng([seed, SPLITS.index(split), index])


def scene_ids(split: str, count: int) -> List[str]:
    """Image ids of a split: ``<split>_0000``, ``<split>_0001``, ..."""
    return [f'{split}_{index:04d}' for index in range(count)]


def parse_scene_id(image_id: str) -> Tuple[str, int]:
    """``(split, index)`` of an id made by :func:`scene_ids`."""
    split, _, number = image_id.rpartition('_')
    if split not in SPLITS or not number.isdigit():
        raise SamWsssError(f'{image_id!r} is not a synthetic scene id like train_0007')
    return split, int(number)


def scene_paths(out_dir: str, image_id: str) -> Dict[str, str]:
    """The VOC-layout files of one scene: ``image``, ``label`` and ``instance``."""
    return dict(image=osp.join(out_dir, 'JPEGImages', f'{image_id}.jpg'),
                label=osp.join(out_dir, 'SegmentationClass', f'{image_id}.png'),
                instance=osp.join(out_dir, 'SegmentationObject', f'{image_id}.png'))


def write_scene(out_dir: str, image_id: str, generator: SceneGenerator, seed: int) -> Scene:
    """Generate the scene of ``image_id`` and write its JPEG, class PNG and instance PNG.

    The label is written last, so a present label means a finished scene.

    Args:
        out_dir (str): Dataset root.
        image_id (str): An id from :func:`scene_ids`.
        generator (SceneGenerator): The scene settings.
        seed (int): Dataset seed.

    Returns:
        Scene: the scene written.
    """
    split, index = parse_scene_id(image_id)
    scene = generator.generate(scene_rng(seed, split, index))
    paths = scene_paths(out_dir, image_id)
    with atomic_write(paths['image']) as handle:
        Image.fromarray(scene.image).save(handle, format='JPEG', quality=95)
    write_label_png(paths['instance'], scene.instance)
    write_label_png(paths['label'], scene.label)
    return scene


def present_class_ids(label: np.ndarray) -> List[int]:
    """Sorted foreground class ids visible in ``(H, W) uint8`` ``label`` (no 0, no 255)."""
    return [int(value) for value in np.unique(label) if value not in (0, IGNORE_INDEX)]


def write_dataset_metadata(out_dir: str, ids_by_split: Dict[str, Sequence[str]],
                           settings: Dict) -> Dict[str, List[int]]:
    """Write the id lists, ``cls_labels.json`` (read back from the label PNGs) and ``classes.json``.

    Args:
        out_dir (str): Dataset root whose ``SegmentationClass`` PNGs are all written.
        ids_by_split (dict[str, Sequence[str]]): Ids of ``train`` and ``val``.
        settings (dict): Generation settings stored in ``classes.json`` (seed, size, ...).

    Returns:
        dict[str, list[int]]: ``{id: foreground class ids}`` as written.
    """
    cls_labels = {}
    for split, ids in ids_by_split.items():
        with atomic_write(osp.join(out_dir, 'ImageSets', 'Segmentation', f'{split}.txt'),
                          'w') as handle:
            handle.write(''.join(f'{image_id}\n' for image_id in ids))
        for image_id in ids:
            label = read_label_png(scene_paths(out_dir, image_id)['label'],
                                   num_classes=len(SHAPE_CLASSES))
            cls_labels[image_id] = present_class_ids(label)
    with atomic_write(osp.join(out_dir, 'cls_labels.json'), 'w') as handle:
        handle.write('{\n' + ',\n'.join(f'  {json.dumps(image_id)}: {json.dumps(class_ids)}'
                                         for image_id, class_ids in cls_labels.items()) + '\n}\n')
    classes = dict(classes=list(SHAPE_CLASSES),
                   palette=VOC_PALETTE[:len(SHAPE_CLASSES)].tolist(),
                   source='procedural shape scenes (mmseg_sam_wsss.simulation.scenes)',
                   settings=settings)
    with atomic_write(osp.join(out_dir, 'classes.json'), 'w') as handle:
        json.dump(classes, handle, indent=1)
    return cls_labels


def check_existing_settings(out_dir: str, settings: Dict) -> None:
    """Refuse to resume into ``out_dir`` when it was generated with other settings."""
    path = osp.join(out_dir, 'classes.json')
    if not osp.isfile(path):
        return
    with open(path, encoding='utf-8') as handle:
        try:
            old = json.load(handle).get('settings', {})
        except json.JSONDecodeError as error:
            raise SamWsssError(f'{path}: not valid JSON ({error}); delete it and rerun') from error
    changed = {key: (old.get(key), value) for key, value in settings.items()
               if key in ('seed', 'size', 'generator') and old.get(key) != value}
    if changed:
        raise SamWsssError(
            f'{path}: this dataset was made with other settings ({changed} as (old, new)); '
            'use another --out or delete the directory')
