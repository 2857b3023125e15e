"""The demo's report: a results table, a picture grid per image and training-loss curves.

``write_report`` writes ``report.html`` with the title, the table, a line naming the mask source
and two embedded PNGs (``report_grid.png``: image | CAM pseudo-label | masks | enhanced label |
GT | predictions, one row per image; ``report_curves.png``: loss against iteration of each
training run, read from mmengine's ``<work_dir>/<timestamp>/vis_data/scalars.json``). Panels are
drawn with :mod:`mmseg_sam_wsss.visualization.drawing`; matplotlib runs on its Agg canvas. No mmseg.
"""
import glob
import html
import json
import os
import os.path as osp
import re
import textwrap
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..core.io import VOC_CLASSES, VOC_PALETTE, atomic_write, list_ids, read_image, read_label_png
from ..core.mask_store import open_mask_source
from .drawing import overlay_masks, render_grid
from ..errors import SamWsssError

GRID_PNG = 'report_grid.png'
CURVES_PNG = 'report_curves.png'
REPORT_HTML = 'report.html'


def load_table(path: str) -> List[dict]:
    """Read the results table: a JSON list of row objects such as ``{"what": ..., "mIoU": ...}``."""
    try:
        with open(path, encoding='utf-8') as handle:
            rows = json.load(handle)
    except OSError as error:
        raise SamWsssError(f'{path}: cannot read the table ({error}); check --table') from error
    except ValueError as error:
        raise SamWsssError(f'{path}: not valid JSON ({error}); write a list of row objects') \
            from error
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise SamWsssError(f'{path}: the table must be a JSON list of objects like '
                           '[{"what": "CAM pseudo-labels (train)", "mIoU": 41.2}]')
    return rows


def table_columns(rows: Sequence[dict]) -> List[str]:
    """Column names in order of first appearance over the rows."""
    columns: List[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return columns


def _cell(value) -> str:
    if value is None:
        return ''
    if isinstance(value, float):
        return f'{value:.2f}'
    return str(value)


def format_text_table(rows: Sequence[dict]) -> str:
    """The rows as a plain-text table with aligned columns (floats with 2 decimals)."""
    columns = table_columns(rows)
    cells = [columns] + [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    lines = ['  '.join(text.ljust(width) for text, width in zip(line, widths)).rstrip()
             for line in cells]
    lines.insert(1, '  '.join('-' * width for width in widths))
    return '\n'.join(lines)


def format_html_table(rows: Sequence[dict]) -> str:
    """The rows as an HTML ``<table>`` (values escaped)."""
    columns = table_columns(rows)
    head = ''.join(f'<th>{html.escape(column)}</th>' for column in columns)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(_cell(row.get(column)))}</td>'
                                    for column in columns) + '</tr>\n' for row in rows)
    return f'<table>\n<tr>{head}</tr>\n{body}</table>'


def parse_name_dirs(items: Optional[Sequence[str]], flag: str) -> List[Tuple[str, str]]:
    """``['NAME=DIR', ...]`` to ``[(NAME, DIR), ...]``; every DIR must exist."""
    pairs = []
    for item in items or []:
        name, sep, directory = item.partition('=')
        if not sep or not name or not directory:
            raise SamWsssError(f'{flag} {item!r}: expected NAME=DIR, e.g. {flag} cam=work_dirs/cam')
        if not osp.isdir(directory):
            raise SamWsssError(f'{flag} {item!r}: directory {directory} not found')
        pairs.append((name, directory))
    return pairs


def mask_source_text(source: str) -> str:
    """The mask source as shown to readers, saying plainly when it is not SAM.

    A source that already says "not" (``'sam-random-init (not SAM)'``) or names SAM itself
    (``'sam'``, ``'sam-vit_h'``) is shown as it is; any other (``'oracle-simulated'``,
    ``'superpixel'``) gets ", not SAM".
    """
    lower = source.strip().lower()
    if re.search(r'\bnot\b', lower) or lower.startswith('sam'):
        return source
    return f'{source}, not SAM'


def mask_column_title(source: str) -> str:
    """Title of the grid's masks column, e.g. ``'masks (oracle-simulated, not SAM)'``."""
    return f'masks ({mask_source_text(source)})'


@dataclass
class GridInputs:
    """Where the grid's columns come from; every column but ``img_dir`` is optional.

    Args:
        img_dir (str): Images ``<id><img_suffix>``.
        gt_dir (str, optional): Ground-truth label PNGs.
        cam_dir (str, optional): CAM pseudo-label PNGs.
        masks (str, optional): A mask store or amg folder (``open_mask_source``).
        enhanced_dir (str, optional): Enhanced pseudo-label PNGs.
        pred_dirs (list[tuple[str, str]]): ``(name, dir)`` of prediction PNGs.
        label_dirs (list[tuple[str, str]]): ``(name, dir)`` of other label PNGs (weak labels,
            SeSAM rounds), drawn after the enhanced label and before the GT.
        img_suffix (str): Default: ``'.jpg'``.
        allow_missing (bool): Draw a grey "none" panel where a column has no file for an id,
            instead of raising. Default: False.
    """
    img_dir: str
    gt_dir: Optional[str] = None
    cam_dir: Optional[str] = None
    masks: Optional[str] = None
    enhanced_dir: Optional[str] = None
    pred_dirs: List[Tuple[str, str]] = field(default_factory=list)
    label_dirs: List[Tuple[str, str]] = field(default_factory=list)
    img_suffix: str = '.jpg'
    allow_missing: bool = False

    def label_columns(self) -> List[Tuple[str, str]]:
        """``(title, dir)`` of the label columns, in grid order (masks go after the CAM)."""
        columns = [('CAM pseudo-label', self.cam_dir), ('enhanced label', self.enhanced_dir)]
        columns += list(self.label_dirs) + [('GT', self.gt_dir)]
        columns += [(f'prediction: {name}', directory) for name, directory in self.pred_dirs]
        return [(title, directory) for title, directory in columns if directory]


def default_grid_ids(inputs: GridInputs, grid_rows: int) -> List[str]:
    """The first ``grid_rows`` image ids that have a file in every given column.

    Under ``allow_missing`` an id needs only an image and one label file.
    """
    image_ids = set(list_ids(inputs.img_dir, inputs.img_suffix))
    label_sets = [set(list_ids(directory, '.png')) for _, directory in inputs.label_columns()]
    if not label_sets:
        return sorted(image_ids)[:grid_rows]
    if inputs.allow_missing:
        candidates = image_ids & set().union(*label_sets)
    else:
        candidates = image_ids.intersection(*label_sets)
    if not candidates:
        raise SamWsssError(
            'no image id has a file in every grid column (e.g. CAM labels exist for train ids, '
            'predictions for val ids); pass --allow-missing or --ids')
    return sorted(candidates)[:grid_rows]


def _missing_panel(shape: Tuple[int, int]) -> np.ndarray:
    return np.full((*shape, 3), 200, dtype=np.uint8)


def grid_panels(inputs: GridInputs, image_ids: Sequence[str],
                num_classes: int) -> Tuple[List[Tuple[str, np.ndarray]], int, Optional[str]]:
    """Read every row's panels.

    Args:
        inputs (GridInputs): The column sources.
        image_ids (Sequence[str]): One row per id.
        num_classes (int): Label values must be ``< num_classes`` or 255.

    Returns:
        tuple: ``(panels, ncols, mask_source)``: ``(title, array)`` panels row by row (the
        column title is on the first row; the image panel is titled with its id), the number
        of columns, and the mask source string (None without masks).
    """
    mask_reader = open_mask_source(inputs.masks) if inputs.masks else None
    mask_source = mask_reader.source if mask_reader is not None else None
    label_columns = inputs.label_columns()
    panels: List[Tuple[str, np.ndarray]] = []
    for row, image_id in enumerate(image_ids):
        image = read_image(osp.join(inputs.img_dir, image_id + inputs.img_suffix))
        shape = image.shape[:2]
        row_panels = [(image_id, image)]
        columns = list(label_columns)
        if mask_reader is not None:
            # Wrapped: a long source ('oracle-imperfect (GT components with ...)') would run
            # over the neighbouring column titles.
            columns.insert(1 if inputs.cam_dir else 0,
                           (textwrap.fill(mask_column_title(mask_source), 36), None))
        for title, directory in columns:
            if directory is None:  # the masks column
                masks = mask_reader(image_id).decode()
                if masks.shape[1:] != shape:
                    raise SamWsssError(f'{inputs.masks}: masks of {image_id} are '
                                       f'{masks.shape[1:]}, the image is {shape}; wrong store?')
                array = overlay_masks(image, masks)
            else:
                path = osp.join(directory, image_id + '.png')
                if inputs.allow_missing and not osp.isfile(path):
                    row_panels.append((f'{title}: none' if row == 0 else 'none',
                                       _missing_panel(shape)))
                    continue
                array = read_label_png(path, num_classes=num_classes, shape=shape)
            row_panels.append((title if row == 0 else '', array))
        panels += row_panels
    return panels, 1 + len(label_columns) + (mask_reader is not None), mask_source


def scalars_files(work_dir: str) -> List[str]:
    """mmengine's ``scalars.json`` files of a work dir, oldest run first.

    Accepts the work dir (``<work_dir>/<timestamp>/vis_data/scalars.json``), one timestamp
    dir, or the file itself.
    """
    if osp.isfile(work_dir):
        return [work_dir]
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    paths += [path for path in [osp.join(work_dir, 'vis_data', 'scalars.json')]
              if osp.isfile(path)]
    if not paths:
        raise SamWsssError(f'{work_dir}: no <timestamp>/vis_data/scalars.json found; is this '
                           'an mmengine work_dir of a finished training run?')
    return paths


def read_loss_curve(work_dir: str, key: str = 'loss') -> Tuple[np.ndarray, np.ndarray]:
    """``(iters, values)`` of ``key`` over all logged training iterations of a work dir.

    Resumed runs write one timestamp dir each; their records are merged and sorted by iter
    (a later run's value wins for a repeated iter).

    Returns:
        tuple: ``(N,) int64`` iterations and ``(N,) float64`` values.
    """
    by_iter: Dict[int, float] = {}
    for path in scalars_files(work_dir):
        with open(path, encoding='utf-8') as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as error:
                    raise SamWsssError(f'{path}:{number}: not a JSON line ({error})') from error
                step = record.get('iter', record.get('step'))
                if key in record and step is not None:
                    by_iter[int(step)] = float(record[key])
    if not by_iter:
        raise SamWsssError(f'{work_dir}: its scalars.json has no {key!r} records; did the run '
                           'log any training iteration?')
    iters = np.array(sorted(by_iter), dtype=np.int64)
    return iters, np.array([by_iter[step] for step in iters], dtype=np.float64)


def plot_loss_curves(work_dirs: Sequence[Tuple[str, str]], out_path: str,
                     key: str = 'loss') -> str:
    """Plot ``key`` against iteration for each ``(name, work_dir)`` on one figure (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not work_dirs:
        raise SamWsssError('plot_loss_curves needs at least one NAME=WORK_DIR')
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    axis = fig.subplots()
    for name, work_dir in work_dirs:
        iters, values = read_loss_curve(work_dir, key)
        axis.plot(iters, values, marker='.' if len(iters) < 30 else None, label=name)
    axis.set_xlabel('iteration')
    axis.set_ylabel(key)
    axis.set_title(f'training {key}')
    axis.grid(alpha=0.3)
    axis.legend()
    fig.tight_layout()
    with atomic_write(out_path) as handle:
        fig.savefig(handle, format='png')
    return out_path


def load_classes(path: Optional[str]) -> Tuple[List[str], np.ndarray]:
    """Class names and ``(K, 3) uint8`` palette from a ``classes.json``, else VOC's."""
    if path is None:
        return list(VOC_CLASSES), VOC_PALETTE
    try:
        with open(path, encoding='utf-8') as handle:
            meta = json.load(handle)
        names, palette = list(meta['classes']), np.asarray(meta['palette'], dtype=np.uint8)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SamWsssError(f'{path}: cannot read class names and palette ({error}); pass a '
                           'classes.json with "classes" and "palette" lists') from error
    if palette.shape != (len(names), 3):
        raise SamWsssError(f'{path}: palette must be one RGB triple per class')
    return names, palette


def write_report(out_dir: str, title: str, table_rows: Sequence[dict],
                 grid_inputs: Optional[GridInputs] = None,
                 image_ids: Optional[Sequence[str]] = None, grid_rows: int = 4,
                 work_dirs: Sequence[Tuple[str, str]] = (),
                 classes_json: Optional[str] = None) -> Dict[str, str]:
    """Write ``report.html`` and its PNGs into ``out_dir``.

    Args:
        out_dir (str): Output directory (created).
        title (str): Report title.
        table_rows (Sequence[dict]): Rows of the results table.
        grid_inputs (GridInputs, optional): Picture-grid sources; no grid without them.
        image_ids (Sequence[str], optional): Grid rows (default: :func:`default_grid_ids`).
        grid_rows (int): Rows when ``image_ids`` is not given. Default: 4.
        work_dirs (Sequence[tuple[str, str]]): ``(name, work_dir)`` training runs to plot.
        classes_json (str, optional): ``classes.json`` with names and palette (default: VOC).

    Returns:
        dict[str, str]: Paths written, under ``html``, ``grid`` and ``curves``.
    """
    os.makedirs(out_dir, exist_ok=True)
    class_names, palette = load_classes(classes_json)
    written: Dict[str, str] = {}
    mask_source = None
    if grid_inputs is not None:
        ids = list(image_ids) if image_ids else default_grid_ids(grid_inputs, grid_rows)
        panels, ncols, mask_source = grid_panels(grid_inputs, ids, len(class_names))
        written['grid'] = render_grid(panels, osp.join(out_dir, GRID_PNG),
                                      class_names=class_names, palette=palette, ncols=ncols,
                                      panel_inches=2.2)
    if work_dirs:
        written['curves'] = plot_loss_curves(work_dirs, osp.join(out_dir, CURVES_PNG))
    if mask_source is None:
        mask_line = 'No class-agnostic masks shown.'
    else:
        mask_line = f'Mask source: {mask_source_text(mask_source)}.'
    parts = [f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
             '</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:'
             'collapse}td,th{border:1px solid #999;padding:4px 8px;text-align:left}</style>'
             f'</head><body>\n<h1>{html.escape(title)}</h1>',
             format_html_table(table_rows), f'<p class="mask-source">{html.escape(mask_line)}</p>']
    if 'grid' in written:
        parts.append(f'<h2>Examples</h2>\n<img src="{GRID_PNG}" alt="picture grid">')
    if 'curves' in written:
        parts.append(f'<h2>Training loss</h2>\n<img src="{CURVES_PNG}" alt="loss curves">')
    parts.append('</body></html>\n')
    written['html'] = osp.join(out_dir, REPORT_HTML)
    with atomic_write(written['html'], 'w') as handle:
        handle.write('\n'.join(parts))
    return written
