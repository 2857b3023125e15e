"""Picture grids for label sets: colour labels, overlay class-agnostic masks, lay out panels.

Used by ``tools/eval_pseudo_labels.py --show`` and reusable by any report: a grid is a list of
``(title, array)`` panels, where an ``(H, W, 3) uint8`` array is drawn as an image and an
``(H, W)`` integer array as a class-id label in the palette's colours. Matplotlib is used
through its Agg canvas directly, so the global backend is never changed. Pure NumPy +
matplotlib; no mmseg.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..errors import SamWsssError
from ..core.io import IGNORE_INDEX, VOC_PALETTE, atomic_write

# Ignore (255) drawn in white, so it reads as "no label" rather than as a class colour.
IGNORE_COLOR = (255, 255, 255)


def colorize_label(label: np.ndarray, palette: np.ndarray = VOC_PALETTE,
                   ignore_index: int = IGNORE_INDEX,
                   ignore_color: Sequence[int] = IGNORE_COLOR) -> np.ndarray:
    """Colour a class-id label with a palette.

    Args:
        label (np.ndarray): ``(H, W)`` integer class ids in ``0..255``.
        palette (np.ndarray): ``(K, 3) uint8`` colour of each class id (VOC's by default).
        ignore_index (int): Id drawn in ``ignore_color``. Default: 255.
        ignore_color (Sequence[int]): RGB of ignored pixels. Default: white.

    Returns:
        np.ndarray: ``(H, W, 3) uint8`` RGB.
    """
    label = np.asarray(label)
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer):
        raise SamWsssError(f'a label to colour must be (H, W) integers, got {label.shape} '
                           f'{label.dtype}')
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if label.size and (label.min() < 0 or label.max() >= max(len(palette), ignore_index + 1)):
        raise SamWsssError(f'label values {int(label.min())}..{int(label.max())} exceed the '
                           f'{len(palette)}-colour palette; pass a longer palette')
    full = np.zeros((max(len(palette), ignore_index + 1), 3), dtype=np.uint8)
    full[:len(palette)] = palette
    full[ignore_index] = ignore_color
    return full[label]


def mask_colors(num_masks: int, seed: int = 0) -> np.ndarray:
    """``(N, 3) uint8`` bright random colours, one per mask, reproducible for a ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 256, size=(num_masks, 3)).astype(np.uint8)


def overlay_masks(image: np.ndarray, masks: np.ndarray, alpha: float = 0.6,
                  seed: int = 0) -> np.ndarray:
    """Paint each class-agnostic mask in its own random colour over an image.

    Larger masks are painted first so smaller ones stay visible on top of them.

    Args:
        image (np.ndarray): ``(H, W, 3) uint8`` RGB.
        masks (np.ndarray): ``(N, H, W) bool`` masks.
        alpha (float): Opacity of the mask colours in ``[0, 1]``. Default: 0.6.
        seed (int): Seed of the colours. Default: 0.

    Returns:
        np.ndarray: ``(H, W, 3) uint8`` RGB; pixels under no mask keep the image, dimmed by
        half so the masks stand out.
    """
    image = np.asarray(image)
    masks = np.asarray(masks, dtype=bool)
    if image.ndim != 3 or image.shape[2] != 3:
        raise SamWsssError(f'image must be (H, W, 3) RGB, got {image.shape}')
    if masks.ndim != 3 or masks.shape[1:] != image.shape[:2]:
        raise SamWsssError(f'masks must be (N, H, W) with (H, W) = {image.shape[:2]}, got '
                           f'{masks.shape}; were the masks made for another image size?')
    if not 0.0 <= alpha <= 1.0:
        raise SamWsssError(f'alpha must be in [0, 1], got {alpha}')
    canvas = image.astype(np.float32) * 0.5
    colors = mask_colors(len(masks), seed).astype(np.float32)
    for index in np.argsort(-masks.reshape(len(masks), -1).sum(axis=1), kind='stable'):
        mask = masks[index]
        canvas[mask] = (1 - alpha) * image[mask] + alpha * colors[index]
    return np.clip(canvas, 0, 255).astype(np.uint8)


def _is_label(array: np.ndarray) -> bool:
    return array.ndim == 2


def render_grid(panels: List[Tuple[str, np.ndarray]], out_path: str,
                class_names: Optional[Sequence[str]] = None,
                palette: np.ndarray = VOC_PALETTE, ncols: Optional[int] = None,
                panel_inches: float = 3.2, title: Optional[str] = None,
                ignore_index: int = IGNORE_INDEX, dpi: int = 100) -> str:
    """Draw panels side by side with titles and save them as one PNG, atomically.

    Args:
        panels (List[Tuple[str, np.ndarray]]): ``(title, array)`` pairs; an ``(H, W, 3) uint8``
            array is an RGB image, an ``(H, W)`` integer array a class-id label coloured with
            ``palette`` (``ignore_index`` in white).
        out_path (str): The ``.png`` to write (its folder is created).
        class_names (Sequence[str], optional): When given, a legend lists the classes present
            in the label panels with their colours. ``'ignore'`` is added when 255 appears.
        palette (np.ndarray): ``(K, 3) uint8`` class colours. Default: VOC's.
        ncols (int, optional): Panels per row (default: all in one row).
        panel_inches (float): Width of a panel in inches. Default: 3.2.
        title (str, optional): A title over the whole grid (e.g. the image id).
        ignore_index (int): Label id drawn in white and named ``'ignore'``. Default: 255.
        dpi (int): Resolution. Default: 100.

    Returns:
        str: ``out_path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    if not panels:
        raise SamWsssError('render_grid needs at least one (title, array) panel')
    arrays = []
    present = set()
    for panel_title, array in panels:
        array = np.asarray(array)
        if _is_label(array):
            present.update(np.unique(array).tolist())
            arrays.append(colorize_label(array, palette, ignore_index))
        elif array.ndim == 3 and array.shape[2] == 3:
            arrays.append(array.astype(np.uint8))
        else:
            raise SamWsssError(f'panel {panel_title!r}: expected (H, W, 3) RGB or (H, W) label, '
                               f'got shape {array.shape}')
    ncols = ncols or len(arrays)
    nrows = -(-len(arrays) // ncols)
    height, width = arrays[0].shape[:2]
    panel_height = panel_inches * height / max(width, 1)
    legend_classes = sorted(value for value in present if value != ignore_index)
    show_legend = class_names is not None and (legend_classes or ignore_index in present)
    # one legend row per 8 entries (many classes, e.g. COCO's 81, take several rows)
    legend_rows = -(-(len(legend_classes) + (ignore_index in present)) // 8)
    legend_inches = 0.2 + 0.22 * legend_rows if show_legend else 0.0
    fig = Figure(figsize=(panel_inches * ncols,
                          (panel_height + 0.35) * nrows + legend_inches + (0.35 if title else 0)),
                 dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for index, axis in enumerate(axes.ravel()):
        axis.set_axis_off()
        if index < len(arrays):
            axis.imshow(arrays[index], interpolation='nearest')
            axis.set_title(panels[index][0], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    if show_legend:
        full_palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
        handles = [Patch(facecolor=full_palette[value] / 255.0, edgecolor='black',
                         label=class_names[value] if value < len(class_names) else str(value))
                   for value in legend_classes]
        if ignore_index in present:
            handles.append(Patch(facecolor=np.array(IGNORE_COLOR) / 255.0, edgecolor='black',
                                 label='ignore'))
        fig.legend(handles=handles, loc='lower center', ncol=min(len(handles), 8),
                   fontsize=8, frameon=False)
    bottom = legend_inches / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1))
    with atomic_write(out_path) as handle:
        fig.savefig(handle, format='png')
    return out_path
