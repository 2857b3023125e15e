"""Superpixels as class-agnostic masks (a baseline, NOT SAM): Felzenszwalb or SLIC.

They partition the image and are written as the same
:class:`~mmseg_sam_wsss.core.mask_store.MaskSet` as SAM's masks, with a source string that says
``not SAM``. Pure NumPy + scikit-image.
"""
from typing import Dict, Tuple

import numpy as np

from ..core.mask_store import MaskSet
from ..core.rle import runs_from_changes
from ..errors import SamWsssError

SUPERPIXEL_METHODS = ('felzenszwalb', 'slic')


def superpixel_source(method: str) -> str:
    """The store's source string of a superpixel method, e.g. ``'superpixel-slic (not SAM)'``."""
    return f'superpixel-{method} (not SAM)'


def segments_to_runs(segment_ids: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Run lengths of every segment of a label map, without decoding ``K`` boolean masks.

    Args:
        segment_ids (np.ndarray): ``(H, W)`` int segment ids ``0..K-1``.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``runs`` ``(R,) uint32`` and ``offsets`` ``(K + 1,)
        int64`` as :func:`~.rle.masks_to_runs` gives for ``segment_ids == k``, k = 0..K-1.
    """
    flat = np.ascontiguousarray(segment_ids.T).reshape(-1).astype(np.int64)
    count = int(flat.max()) + 1 if flat.size else 0
    boundaries = np.nonzero(flat[1:] != flat[:-1])[0] + 1
    starts = np.concatenate([[0], boundaries]) if flat.size else boundaries
    # A segment changes where it starts (to ones) and where the next one starts (to zeros).
    rows = np.concatenate([flat[starts], flat[boundaries - 1]])
    cols = np.concatenate([starts, boundaries])
    order = np.lexsort((cols, rows))
    return runs_from_changes(rows[order], cols[order], count, flat.size)


class SuperpixelMasks:
    """Superpixels as class-agnostic masks (a baseline, not SAM): they partition the image.

    Args:
        method (str): ``'felzenszwalb'`` or ``'slic'``. Default: ``'felzenszwalb'``.
        scale (float): Felzenszwalb's scale (larger: larger segments). Default: 300.
        min_size (int): Felzenszwalb's smallest segment (px). Default: 200.
        n_segments (int): SLIC's approximate number of segments. Default: 100.
        compactness (float): SLIC's colour/space trade-off (larger: squarer). Default: 10.
        sigma (float): Gaussian smoothing before segmenting (both methods). Default: 0.8.
    """

    def __init__(self, method: str = 'felzenszwalb', scale: float = 300.0,
                 min_size: int = 200, n_segments: int = 100, compactness: float = 10.0,
                 sigma: float = 0.8) -> None:
        if method not in SUPERPIXEL_METHODS:
            raise SamWsssError(f'superpixel method {method!r} is unknown; use one of '
                               f'{", ".join(SUPERPIXEL_METHODS)}')
        self.method = method
        self.scale, self.min_size = float(scale), int(min_size)
        self.n_segments, self.compactness = int(n_segments), float(compactness)
        self.sigma = float(sigma)
        self.source = superpixel_source(method)

    @property
    def settings(self) -> Dict:
        """JSON-serializable settings of the chosen method."""
        if self.method == 'felzenszwalb':
            return dict(method=self.method, scale=self.scale, min_size=self.min_size,
                        sigma=self.sigma)
        return dict(method=self.method, n_segments=self.n_segments,
                    compactness=self.compactness, sigma=self.sigma)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Superpixel ids ``(H, W) int64``, ``0..K-1``, of an ``(H, W, 3) uint8`` RGB image."""
        from skimage.segmentation import felzenszwalb, slic
        if image.ndim != 3 or image.shape[2] != 3:
            raise SamWsssError(f'superpixels need an (H, W, 3) RGB image, got {image.shape}')
        if self.method == 'felzenszwalb':
            segments = felzenszwalb(image, scale=self.scale, sigma=self.sigma,
                                    min_size=self.min_size)
        else:
            segments = slic(image, n_segments=self.n_segments, compactness=self.compactness,
                            sigma=self.sigma, start_label=0, enforce_connectivity=True)
        _, segment_ids = np.unique(segments, return_inverse=True)
        return segment_ids.reshape(segments.shape).astype(np.int64)

    def generate(self, image: np.ndarray, image_id: str = '') -> MaskSet:
        """The superpixel masks of one image.

        Args:
            image (np.ndarray): ``(H, W, 3) uint8`` RGB image.
            image_id (str): Unused (superpixels are deterministic).

        Returns:
            MaskSet: ``K`` disjoint masks ``(H, W)`` covering every pixel, no scores (NaN).
        """
        segment_ids = self.segment(image)
        runs, offsets = segments_to_runs(segment_ids)
        return MaskSet.from_runs(runs, offsets, *segment_ids.shape, self.source, self.settings)

    def __repr__(self) -> str:
        return f'SuperpixelMasks({self.settings})'
