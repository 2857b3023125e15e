"""SeSAM pseudo-labels from weak labels: components -> skeleton point prompts -> SAM candidates
-> coverage selection -> painting (weak pixels keep their label).

    python tools/sesam_pseudo_labels.py --img-dir VOC2012/JPEGImages \
        --weak-dir VOC2012/weak_labels/point --out VOC2012/sesam_labels/point \
        --model-type vit_h --checkpoint checkpoints/sam_vit_h_4b8939.pth
    # refinement round 2 from a trained model's confident pixels (max softmax >= --conf-thresh):
    python tools/predict_labels.py CONFIG CHECKPOINT --img-dir VOC2012/JPEGImages \
        --ids VOC2012/ImageSets/Segmentation/train.txt --out work_dirs/preds
    python tools/sesam_pseudo_labels.py ... --round 2 --pred-dir work_dirs/preds  # -> OUT/round_2/
    # upper bound with the GT oracle instead of SAM (outputs are marked oracle, not SAM):
    python tools/sesam_pseudo_labels.py ... --source oracle --gt-dir VOC2012/SegmentationClass
    # GT objects with simulated SAM errors (a stand-in where no SAM weights exist; not SAM):
    python tools/sesam_pseudo_labels.py ... --source oracle-imperfect --gt-dir ... --seed 0
    # Cityscapes' own names: ids are the file names without the suffixes
    python tools/sesam_pseudo_labels.py --img-dir ... --img-suffix _leftImg8bit.png \
        --weak-dir ... --weak-suffix _gtCoarse_labelTrainIds.png --num-classes 19 ...

Files are ``<dir>/<id><suffix>``: any ``--weak-suffix`` ending in ``.png`` (a label PNG, 255 =
unlabelled) or ``.json`` (points), any ``--img-suffix``, any ``--gt-suffix`` ending in ``.png``;
the outputs are ``<id>.png``. ``--unlabelled background`` writes ``--background-index`` (0 for
VOC and COCO) where no mask covers a pixel; a dataset without background
(``--background-index none``: Cityscapes, ADE20K) keeps them 255 (``--unlabelled ignore``).

``--pred-dir`` holds ``<id>.png`` class ids with ``<id>_conf.png`` confidences
(``tools/predict_labels.py``) or ``<id>.npy`` ``(C, H, W)`` softmax scores; pixels below
``--conf-thresh`` are not used, nor predicted fragments of classes the weak label does not name
(``--pred-classes``), smaller than ``--pred-min-area`` or, with ``--pred-near-weak``, far from
every weak pixel of their class; the summary counts what was used and warns when nothing was.
By default (``--previous keep``) a round > 1 keeps every label of the previous round
(``--prev-dir``, default ``OUT/round_<r-1>``) and fills only the pixels it left unlabelled;
``--previous replace`` writes this round's labels alone.
Arg-max-only PNGs (``tools/test.py --out``, another method's
labels) carry no confidence and are refused unless ``--trust-argmax`` says to use all their
pixels (255 still means none).

SAM encodes each image once and answers all its prompts in batches. Outputs are written
atomically, finished ones are skipped when ``.provenance.json`` of the round's folder says they
were made from the same inputs and settings (otherwise the run is refused; ``--overwrite``
replaces them, in the ids' folders too: ``<city>/<frame>`` ids write ``<city>/<frame>.png``),
ids are sharded by RANK/WORLD_SIZE (torchrun), and ``OUT/sesam_meta.json`` records what
produced the masks of every round.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import json  # noqa: E402
from typing import Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

from mmseg_sam_wsss.core.image_tags import BACKGROUND  # noqa: E402
from mmseg_sam_wsss.core.io import (CONF_SUFFIX, IGNORE_INDEX, PREDICT_META_NAME,  # noqa: E402
                                    atomic_write, check_label_values, read_image,
                                    read_label_png, write_label_png)
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.core.rng import image_rng  # noqa: E402
from mmseg_sam_wsss.core.sesam_refine import (FragmentCounts, guard_prediction,  # noqa: E402
                                               keep_previous_labels)
from mmseg_sam_wsss.core.sesam_select import SeSAMLabeler, confident_label  # noqa: E402
from mmseg_sam_wsss.core.weak_labels import WEAK_META_NAME, load_weak_label  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (NUM_CLASSES, RATIO, SEED, BadInputTally,  # noqa: E402
                                      add_common_args, add_overwrite_arg,
                                      dist_rank_world, document_ranges,
                                      float_in, int_in, resolve_ids, run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.provenance import OutputRecord, id_output_patterns  # noqa: E402

ORACLE_SOURCES = ('oracle', 'oracle-imperfect')
WEAK_FORMATS = ('.png', '.json')  # a label PNG or a points JSON, as load_weak_label reads them
NO_BACKGROUND = 'none'
BACKGROUND_INDEX = int_in(0, IGNORE_INDEX - 1)
#: Default --pred-min-area, measured: on the demo (3 dataset seeds x 2 trainings of the round-1
#: semi-supervised model, --previous replace) round-2 labels score 78.72 / 78.64 / 78.26 / 78.08
#: mIoU on average at 1 / 4 / 16 / 64 px (benchmarks/bench_sesam_demo.py --pred-min-areas), so
#: no fragment is too small by default.
PRED_MIN_AREA = 1
#: --previous: keep the previous round's labels (fill its unlabelled pixels) or replace them.
PREVIOUS_MODES = ('keep', 'replace')


def background_index_arg(text: str) -> Optional[int]:
    """argparse ``type=`` of ``--background-index``: a class id, or ``none`` (no background)."""
    if text.strip().lower() == NO_BACKGROUND:
        return None
    try:
        return BACKGROUND_INDEX(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f'{error}, or {NO_BACKGROUND} for a dataset without '
                                         'background') from None


background_index_arg.__name__ = 'background index'  # argparse names the type in its messages


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='SeSAM pseudo-labels from weak labels.')
    parser.add_argument('--img-dir', required=True)
    parser.add_argument('--weak-dir', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--img-suffix', default='.jpg',
                        help='image file name after the id, e.g. _leftImg8bit.png (default: .jpg)')
    parser.add_argument('--weak-suffix', default='.png',
                        help='weak label file name after the id, ending in .png (label PNG) or '
                        '.json (points), e.g. _gtCoarse_labelTrainIds.png (default: .png)')
    parser.add_argument('--point-radius', type=int_in(0, 64), default=0,
                        help='disk radius for .json points (default: 0)')
    parser.add_argument('--num-classes', type=NUM_CLASSES, default=21)
    parser.add_argument('--source', choices=('sam', ) + ORACLE_SOURCES, default='sam',
                        help='sam; oracle: GT components answer the prompts (an upper bound, '
                        'not SAM); oracle-imperfect: GT objects with simulated SAM errors '
                        '(parts, leaks into neighbours, wobbly borders; not SAM)')
    parser.add_argument('--model-type', default='vit_h', help="vit_h|vit_l|vit_b|tiny")
    parser.add_argument('--checkpoint', help='SAM checkpoint (.pth)')
    parser.add_argument('--random-init-for-tests', action='store_true',
                        help='random SAM weights: a wiring test, NOT a SAM result')
    parser.add_argument('--device', default='auto',
                        help='torch device (default: cuda:LOCAL_RANK when a GPU is there, '
                        'else cpu)')
    parser.add_argument('--gt-dir', help='GT label PNGs (--source oracle*)')
    parser.add_argument('--gt-suffix', default='.png',
                        help='GT file name after the id, ending in .png, e.g. '
                        '_gtFine_labelTrainIds.png (default: .png)')
    parser.add_argument('--round', '--rounds', dest='round', type=int_in(1, 100), default=None,
                        help='refinement round of this run; writes OUT/round_<r>/; r > 1 '
                        'needs --pred-dir (default: single round, writes OUT/)')
    parser.add_argument('--pred-dir',
                        help='model predictions (round > 1): <id>.png + <id>_conf.png '
                        '(tools/predict_labels.py) or <id>.npy (C, H, W) softmax')
    parser.add_argument('--conf-thresh', type=RATIO, default=0.95,
                        help='use only predicted pixels whose max softmax is at or above it '
                        '(default: 0.95)')
    parser.add_argument('--trust-argmax', action='store_true',
                        help='use every pixel of <id>.png predictions that have no confidence '
                        '(no <id>_conf.png), e.g. tools/test.py --out (default: refuse them)')
    guards = parser.add_argument_group(
        'refinement guards (round > 1): which confident predicted fragments become prompts')
    guards.add_argument('--pred-classes', choices=('weak', 'all'), default='weak',
                        help='weak: only fragments of classes the image\'s weak label names '
                        '(a round cannot invent a class); all: any class (default: weak)')
    guards.add_argument('--pred-min-area', type=int_in(1, 1 << 24), default=PRED_MIN_AREA,
                        help='only predicted fragments (8-connected, one class) of at least '
                        f'this many pixels (default: {PRED_MIN_AREA})')
    guards.add_argument('--pred-near-weak', type=float_in(0.0, None), default=None,
                        metavar='PX', help='only fragments within PX pixels of a weak pixel of '
                        'their class (default: no limit)')
    guards.add_argument('--previous', choices=PREVIOUS_MODES, default='keep',
                        help='keep: pixels the previous round labelled keep that label and this '
                        'round fills only the pixels it left unlabelled; replace: this round\'s '
                        'labels replace it (default: keep, measured in docs/sesam.md)')
    guards.add_argument('--prev-dir', help='the previous round\'s labels, for --previous keep '
                        '(default: OUT/round_<r-1>)')
    parser.add_argument('--points-per-component', type=int_in(1, 100), default=3)
    parser.add_argument('--negative-points', type=int_in(0, 100), default=0)
    parser.add_argument('--penalty', type=float_in(0.0, 100.0), default=1.0,
                        help='weight of other-class coverage in selection (default: 1.0)')
    parser.add_argument('--min-score', type=float_in(None, 1.0), default=0.0)
    parser.add_argument('--min-area', type=int_in(0, 1 << 24), default=1,
                        help='prompt no component (weak and predicted pixels together) smaller '
                        'than this; a click is one component (default: 1)')
    parser.add_argument('--unlabelled', choices=('ignore', 'background'), default='ignore',
                        help='value of pixels no mask covers: 255 or --background-index '
                        '(default: ignore)')
    parser.add_argument('--background-index', type=background_index_arg, default=BACKGROUND,
                        help='the background class, written by --unlabelled background: 0 for '
                        'VOC and COCO, none for a dataset without one (Cityscapes, ADE20K) '
                        f'(default: {BACKGROUND}; range: {BACKGROUND_INDEX.text} and below '
                        '--num-classes, or none)')
    parser.add_argument('--prompt-batch-size', type=int_in(1, 4096), default=64)
    parser.add_argument('--seed', type=SEED, default=0,
                        help='phase of the skeleton points; seeds oracle-imperfect (default: 0)')
    add_common_args(parser, workers=False)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.round is not None and args.round > 1 and not args.pred_dir:
        parser.error(f'--round {args.round} needs --pred-dir (the model\'s predictions)')
    if (args.pred_dir or args.trust_argmax) and not (args.round and args.round > 1):
        parser.error('--pred-dir and --trust-argmax are read only in a round > 1: add --round 2')
    if args.pred_near_weak is not None and not (args.round and args.round > 1):
        parser.error('--pred-near-weak guards a round > 1: add --round 2 and --pred-dir')
    if args.prev_dir and not (args.round and args.round > 1 and args.previous == 'keep'):
        parser.error('--prev-dir is read only in a round > 1 with --previous keep: add --round 2')
    if args.round and args.round > 1 and args.previous == 'keep':
        if args.unlabelled == 'background':
            parser.error('--previous keep fills the pixels the previous round left unlabelled, '
                         'but --unlabelled background leaves none; pass --previous replace')
        args.prev_dir = args.prev_dir or osp.join(args.out, f'round_{args.round - 1}')
    if args.source in ORACLE_SOURCES and not args.gt_dir:
        parser.error(f'--source {args.source} needs --gt-dir')
    if args.source == 'sam' and not (args.checkpoint or args.random_init_for_tests):
        parser.error('--source sam needs --checkpoint (or --random-init-for-tests)')
    for flag, suffix, endings, example in (
            ('--weak-suffix', args.weak_suffix, WEAK_FORMATS, '_gtCoarse_labelTrainIds.png'),
            ('--gt-suffix', args.gt_suffix, ('.png', ), '_gtFine_labelTrainIds.png')):
        if not suffix.endswith(endings):
            parser.error(f'{flag} {suffix!r} must end in {" or ".join(endings)} (the file '
                         f'format), e.g. {flag} {example}')
    if not args.img_suffix:
        parser.error('--img-suffix is empty; give the image file name after the id, e.g. .jpg')
    if args.background_index is not None and args.background_index >= args.num_classes:
        parser.error(f'--background-index {args.background_index} is not a class of '
                     f'--num-classes {args.num_classes} (0..{args.num_classes - 1}); pass '
                     f'{NO_BACKGROUND} for a dataset without background')
    if args.unlabelled == 'background' and args.background_index is None:
        parser.error(f'--unlabelled background needs a background class, but '
                     f'--background-index is {NO_BACKGROUND}; use --unlabelled ignore (255) '
                     'for a dataset without background')
    return args


def read_prediction(pred_dir: str, image_id: str, shape, num_classes: int,
                    conf_thresh: float, trust_argmax: bool = False) -> np.ndarray:
    """The model's confident prediction ``(H, W) uint8`` (255 = not used) for one image.

    From ``<id>.png`` + ``<id>_conf.png`` (``tools/predict_labels.py``), ``<id>.npy``
    softmax scores, or, with ``trust_argmax``, a bare ``<id>.png`` taken whole.
    """
    png_path = osp.join(pred_dir, image_id + '.png')
    conf_path = osp.join(pred_dir, image_id + CONF_SUFFIX)
    npy_path = osp.join(pred_dir, image_id + '.npy')
    if osp.isfile(png_path) and osp.isfile(conf_path):
        class_map = read_label_png(png_path, num_classes=num_classes, shape=shape)
        confidence = read_label_png(conf_path, shape=shape)
        return confident_label(class_map, conf_thresh, confidence=confidence)
    if osp.isfile(png_path) and not osp.isfile(npy_path):
        if not trust_argmax:
            raise SamWsssError(argmax_only_message(png_path, conf_path))
        return read_label_png(png_path, num_classes=num_classes, shape=shape)
    if osp.isfile(npy_path):
        try:  # never unpickled: a crafted .npy cannot run code
            probabilities = np.load(npy_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise SamWsssError(f'{npy_path}: not a readable .npy array of softmax scores '
                               f'({error})') from error
        if probabilities.ndim != 3 or tuple(probabilities.shape[1:]) != tuple(shape[:2]):
            raise SamWsssError(f'{npy_path}: expected (C, {shape[0]}, {shape[1]}) softmax '
                               f'scores, got {probabilities.shape}')
        label = confident_label(probabilities, conf_thresh)
        check_label_values(label, num_classes, npy_path)
        return label
    raise SamWsssError(f'{png_path}: no prediction (.png or .npy) for {image_id} in --pred-dir')


def argmax_only_message(png_path: str, conf_path: str) -> str:
    """The one-line refusal of a prediction PNG that has no confidence beside it."""
    return (f'{png_path}: an arg-max-only prediction (no {osp.basename(conf_path)}), so its '
            'unconfident pixels cannot be left out; write predictions with '
            'tools/predict_labels.py, or pass --trust-argmax to use every pixel')


def check_pred_dir(args: argparse.Namespace, ids) -> Optional[dict]:
    """Refuse a missing ``--pred-dir`` or arg-max-only predictions before any work is done.

    Returns:
        dict, optional: The folder's ``predict_meta.json`` (what made the predictions).
    """
    if not osp.isdir(args.pred_dir):
        raise SamWsssError(f'{args.pred_dir}: --pred-dir not found; write the predictions '
                           'with tools/predict_labels.py first')
    if not args.trust_argmax:
        for image_id in ids:
            png_path = osp.join(args.pred_dir, image_id + '.png')
            conf_path = osp.join(args.pred_dir, image_id + CONF_SUFFIX)
            if (osp.isfile(png_path) and not osp.isfile(conf_path)
                    and not osp.isfile(osp.join(args.pred_dir, image_id + '.npy'))):
                raise SamWsssError(argmax_only_message(png_path, conf_path))
    meta_path = osp.join(args.pred_dir, PREDICT_META_NAME)
    if not osp.isfile(meta_path):
        return None
    with open(meta_path, encoding='utf-8') as handle:
        return json.load(handle)


def check_prev_dir(args: argparse.Namespace, ids) -> None:
    """Refuse a missing previous round before any work is done (``--previous keep``)."""
    missing = [image_id for image_id in ids
               if not osp.isfile(osp.join(args.prev_dir, image_id + '.png'))]
    if missing:
        raise SamWsssError(
            f'{osp.join(args.prev_dir, missing[0] + ".png")}: the previous round\'s label of '
            f'{missing[0]} is missing ({len(missing)} of {len(ids)} ids); run round '
            f'{args.round - 1} into it first, pass --prev-dir, or --previous replace')


def build_source(args: argparse.Namespace):
    """``(answerer or None, mask_source)``; the oracle answerer is made per image."""
    if args.source == 'oracle':
        from mmseg_sam_wsss.simulation.prompt_oracles import OraclePromptAnswerer
        return None, OraclePromptAnswerer.mask_source
    if args.source == 'oracle-imperfect':
        from mmseg_sam_wsss.simulation.imperfect_prompt_oracle import IMPERFECT_PROMPT_SOURCE
        return None, IMPERFECT_PROMPT_SOURCE
    from mmseg_sam_wsss.sam.builder import build_sam, check_sam_checkpoint, resolve_device
    check_sam_checkpoint(args.checkpoint, args.model_type)
    from mmseg_sam_wsss.sam.prompting import SamPromptAnswerer
    sam_model = build_sam(args.model_type, checkpoint=args.checkpoint,
                          random_init=args.random_init_for_tests,
                          device=resolve_device(args.device))
    answerer = SamPromptAnswerer(sam_model)
    return answerer, answerer.mask_source


def oracle_answerer(args: argparse.Namespace, gt_label: np.ndarray, image_id: str):
    """The GT prompt oracle of one image (not SAM): perfect, or with simulated SAM errors."""
    if args.source == 'oracle':
        from mmseg_sam_wsss.simulation.prompt_oracles import OraclePromptAnswerer
        return OraclePromptAnswerer(gt_label)
    from mmseg_sam_wsss.simulation.imperfect_prompt_oracle import ImperfectPromptAnswerer
    return ImperfectPromptAnswerer(gt_label, image_id, seed=args.seed)


def write_meta(args: argparse.Namespace, mask_source: str,
               prediction_meta: Optional[dict] = None) -> None:
    """Record the source in ``OUT/sesam_meta.json``; refuse to mix sources in one OUT."""
    path = osp.join(args.out, 'sesam_meta.json')
    meta = dict(rounds={})
    if osp.isfile(path):
        with open(path, encoding='utf-8') as handle:
            meta = json.load(handle)
        if meta.get('mask_source') != mask_source:
            raise SamWsssError(f'{path}: {args.out} already holds labels from '
                               f'{meta.get("mask_source")!r}, not {mask_source!r}; '
                               'use another --out')
    meta.update(mask_source=mask_source, source=args.source,
                model_type=args.model_type if args.source == 'sam' else None,
                checkpoint=args.checkpoint if args.source == 'sam' else None)
    meta['rounds'][str(args.round or 1)] = dict(
        weak_dir=osp.abspath(args.weak_dir),
        pred_dir=osp.abspath(args.pred_dir) if args.pred_dir else None,
        prediction=prediction_meta, trust_argmax=args.trust_argmax,
        conf_thresh=args.conf_thresh, pred_classes=args.pred_classes,
        pred_min_area=args.pred_min_area, pred_near_weak=args.pred_near_weak,
        previous=args.previous if args.pred_dir else None,
        prev_dir=osp.abspath(args.prev_dir) if args.prev_dir else None,
        points_per_component=args.points_per_component,
        negative_points=args.negative_points, penalty=args.penalty,
        min_score=args.min_score, min_area=args.min_area, unlabelled=args.unlabelled,
        background_index=args.background_index, seed=args.seed)
    with atomic_write(path, 'w') as handle:
        json.dump(meta, handle, indent=2)


def output_record(args: argparse.Namespace, out_dir: str, mask_source: str,
                  ids: Sequence[str] = ()) -> OutputRecord:
    """What this round's labels are made from: inputs by identity, every setting that changes
    them (not --ids, --device or --prompt-batch-size); ``ids`` name the output folders."""
    sam = args.source == 'sam'
    inputs = {'--img-dir': args.img_dir if sam else None, '--weak-dir': args.weak_dir,
              '--gt-dir': args.gt_dir if not sam else None, '--pred-dir': args.pred_dir,
              '--prev-dir': args.prev_dir,
              '--checkpoint': args.checkpoint if sam else None}
    settings = dict(mask_source=mask_source, source=args.source,
                    model_type=args.model_type if sam else None,
                    random_init=args.random_init_for_tests if sam else None,
                    img_suffix=args.img_suffix, weak_suffix=args.weak_suffix,
                    gt_suffix=args.gt_suffix, point_radius=args.point_radius,
                    num_classes=args.num_classes, round=args.round,
                    conf_thresh=args.conf_thresh if args.pred_dir else None,
                    trust_argmax=args.trust_argmax,
                    pred_classes=args.pred_classes if args.pred_dir else None,
                    pred_min_area=args.pred_min_area if args.pred_dir else None,
                    pred_near_weak=args.pred_near_weak if args.pred_dir else None,
                    previous=args.previous if args.pred_dir else None,
                    points_per_component=args.points_per_component,
                    negative_points=args.negative_points, penalty=args.penalty,
                    min_score=args.min_score, min_area=args.min_area,
                    unlabelled=args.unlabelled, seed=args.seed)
    if args.unlabelled == 'background':  # only then does it change the labels
        settings['background_index'] = args.background_index
    return OutputRecord(out_dir, 'sesam_pseudo_labels', inputs, settings,
                        outputs=id_output_patterns(ids, ['.png']))


def main(argv=None) -> Optional[int]:
    args = parse_args(argv)
    out_dir = args.out if args.round is None else osp.join(args.out, f'round_{args.round}')
    rank, world_size = dist_rank_world()
    ids = resolve_ids(args.ids, args.weak_dir, args.weak_suffix)
    all_ids = [image_id for image_id in ids if image_id + args.weak_suffix != WEAK_META_NAME]
    check_output_ids(out_dir, all_ids, ('.png', ), nested=True)
    ids = shard(all_ids, rank, world_size)
    refining = args.round is not None and args.round > 1
    prediction_meta = check_pred_dir(args, ids) if refining else None
    if refining and args.prev_dir:
        check_prev_dir(args, ids)
    unlabelled = args.background_index if args.unlabelled == 'background' else IGNORE_INDEX
    labeler = SeSAMLabeler(args.points_per_component, args.negative_points, args.penalty,
                           args.min_score, args.min_area, unlabelled, args.prompt_batch_size)
    sam_answerer, mask_source = build_source(args)
    # Checked before anything is written: other inputs or settings are refused, never mixed.
    output_record(args, out_dir, mask_source, all_ids).check_or_write(args.overwrite, rank,
                                                                      world_size)
    if rank == 0:
        write_meta(args, mask_source, prediction_meta)

    def process(image_id: str) -> None:
        if args.source in ORACLE_SOURCES:
            gt_label = read_label_png(osp.join(args.gt_dir, image_id + args.gt_suffix),
                                      num_classes=args.num_classes)
            answerer, shape = oracle_answerer(args, gt_label, image_id), gt_label.shape
        else:
            image = read_image(osp.join(args.img_dir, image_id + args.img_suffix))
            sam_answerer.set_image(image)
            answerer, shape = sam_answerer, image.shape[:2]
        weak_label = load_weak_label(osp.join(args.weak_dir, image_id + args.weak_suffix),
                                     shape, args.num_classes, args.point_radius)
        prediction = None
        if refining:
            prediction = read_prediction(args.pred_dir, image_id, shape, args.num_classes,
                                         args.conf_thresh, args.trust_argmax)
            prediction, image_counts = guard_prediction(
                prediction, weak_label, weak_classes_only=args.pred_classes == 'weak',
                min_area=args.pred_min_area, near_weak_px=args.pred_near_weak)
            counts.add(image_counts)
        pseudo_label = labeler(weak_label, answerer, prediction, image_rng(args.seed, image_id))
        if refining and args.prev_dir:
            previous = read_label_png(osp.join(args.prev_dir, image_id + '.png'),
                                      num_classes=args.num_classes, shape=shape)
            pseudo_label, filled = keep_previous_labels(previous, pseudo_label)
            counts.filled_pixels += filled
        write_label_png(osp.join(out_dir, image_id + '.png'), pseudo_label)

    counts = FragmentCounts()
    tally = BadInputTally(args.skip_bad)
    run_per_id(ids, process, lambda image_id: osp.isfile(osp.join(out_dir, image_id + '.png')),
               tally, desc=f'SeSAM [{mask_source}]')
    print(f'{tally.summary()}; masks from {mask_source}; labels in {out_dir}')
    if refining:
        print(refinement_summary(args, counts))
    return tally.exit_code()


def refinement_summary(args: argparse.Namespace, counts: FragmentCounts) -> str:
    """One line of what a round > 1 took from the predictions; a WARNING when nothing."""
    line = (f'round {args.round}: prompts from {counts.pixels} predicted pixels in '
            f'{counts.fragments} fragments, of {counts.confident_pixels} pixels in '
            f'{counts.confident_fragments} fragments at or above --conf-thresh '
            f'{args.conf_thresh} (dropped: {counts.other_class_fragments} of classes not in the '
            f'weak label, {counts.small_fragments} under --pred-min-area {args.pred_min_area}, '
            f'{counts.far_fragments} farther than --pred-near-weak {args.pred_near_weak}; '
            'images already done are not counted)')
    if args.prev_dir:
        line += (f'\nround {args.round} kept the labels of {args.prev_dir} and filled '
                 f'{counts.filled_pixels} pixels it had left unlabelled (--previous keep)')
    if counts.pixels == 0:
        reason = ('no predicted pixel reached --conf-thresh' if counts.confident_pixels == 0
                  else 'the guards dropped every fragment')
        line += (f'\nWARNING: {reason}, so round {args.round} prompts from the weak labels '
                 'alone and equals round 1; lower --conf-thresh or the guards, or train the '
                 'model longer')
    return line


if __name__ == '__main__':
    run_tool(main)
