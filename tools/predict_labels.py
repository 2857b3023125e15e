"""Run a trained mmseg model over any id list and keep, per pixel, its class and its confidence.

    python tools/predict_labels.py CONFIG CHECKPOINT --img-dir VOC2012/JPEGImages --out DIR \
        [--ids VOC2012/ImageSets/Segmentation/train.txt] [--tta [--tta-scales 0.75 1.0 1.25]
        [--no-flip]] [--device auto|cpu|cuda] [--skip-bad] [--overwrite]
        [--cfg-options key=value ...]
    # next SeSAM round from the confident pixels:
    python tools/sesam_pseudo_labels.py ... --round 2 --pred-dir DIR --conf-thresh 0.95

Writes, per image id, ``DIR/<id>.png`` (class ids of the arg-max, VOC palette, at the image's
own size) and ``DIR/<id>_conf.png`` (grey ``uint8`` = ``round(255 * max softmax)``), and
``DIR/predict_meta.json`` (config, checkpoint, TTA, the confidence encoding). Images go
through the config's ``test_dataloader`` pipeline (annotation loaders dropped) and
``model.test_step``; the softmax is taken over the ``seg_logits`` mmseg returns at the image
size. Any segmentor
works: EncoderDecoder and its kin, and SemiSupervisedSegmentor (its ``predict_on``, the
teacher by default, answers). ``--tta`` averages the softmax over resized copies (scales
multiply the test pipeline's ``Resize``) and their horizontal flips. Writes are atomic;
finished ids are skipped, but only when ``DIR/.provenance.json`` shows the same checkpoint,
images, model, test pipeline and TTA (anything else is refused; ``--overwrite`` replaces the
outputs). Under torchrun (``tools/dist_predict_labels.sh``) every rank takes its own share of
the ids on ``cuda:LOCAL_RANK``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
from typing import List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mmseg_sam_wsss.registration  # noqa: E402,F401  (the plugin and the checkpoint allow-list)
from mmseg_sam_wsss.core.io import (CONF_SUFFIX, IGNORE_INDEX, PREDICT_META_NAME,  # noqa: E402
                                    atomic_write, write_label_png)
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.sam.builder import resolve_device  # noqa: E402
from mmseg_sam_wsss.utils.cli import (BadInputTally, add_common_args,  # noqa: E402
                                      add_overwrite_arg, check_checkpoint_file,
                                      dist_rank_world, document_ranges, float_in, resolve_ids,
                                      run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.mm_tools import (add_config_args, explain_build_error,  # noqa: E402
                                           load_config, load_model_weights, set_local_rank)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402

META_NAME = PREDICT_META_NAME
OUTPUTS = ('*.png', META_NAME)
CONF_ENCODING = 'uint8 = round(255 * max softmax)'
MMSEG_TTA_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)  # mmseg's VOC img_ratios
IMAGE_LOADERS = ('LoadImageFromFile', 'LoadImageFromNDArray')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Class map and per-pixel confidence of a trained mmseg model')
    add_config_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file (tools/train.py)')
    parser.add_argument('--img-dir', required=True, help='folder of <id><img-suffix> images')
    parser.add_argument('--img-suffix', default='.jpg')
    parser.add_argument('--out', required=True,
                        help='output folder: <id>.png, <id>_conf.png, predict_meta.json')
    parser.add_argument('--tta', action='store_true',
                        help='average the softmax over scales and horizontal flips')
    parser.add_argument('--tta-scales', type=float_in(0.0, 8.0, low_open=True), nargs='+',
                        default=None,
                        help='with --tta: factors on the test pipeline\'s Resize scale '
                        f'(default: {" ".join(map(str, MMSEG_TTA_SCALES))})')
    parser.add_argument('--no-flip', action='store_true',
                        help='with --tta: no horizontally flipped copies')
    parser.add_argument('--device', default='auto',
                        help='torch device (default: cuda:LOCAL_RANK when a GPU is there, '
                        'else cpu)')
    add_common_args(parser, workers=False)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.tta and (args.tta_scales is not None or args.no_flip):
        parser.error('--tta-scales and --no-flip need --tta')
    set_local_rank(args)
    return args


def tta_variants(args: argparse.Namespace) -> List[Tuple[float, bool]]:
    """``(scale, flip)`` of every forward pass: one plain pass without ``--tta``."""
    if not args.tta:
        return [(1.0, False)]
    scales = args.tta_scales or MMSEG_TTA_SCALES
    flips = (False, ) if args.no_flip else (False, True)
    return [(float(scale), flip) for scale in scales for flip in flips]


def test_pipeline_cfg(cfg) -> list:
    """The config's test pipeline without annotation loaders (predictions need only images)."""
    pipeline = None
    if cfg.get('test_dataloader') and 'pipeline' in cfg.test_dataloader.get('dataset', {}):
        pipeline = cfg.test_dataloader.dataset.pipeline
    pipeline = pipeline or cfg.get('test_pipeline')
    if not pipeline or pipeline[0].get('type') not in IMAGE_LOADERS:
        raise SamWsssError('the config needs test_dataloader.dataset.pipeline (or '
                           'test_pipeline) starting with LoadImageFromFile')
    return [copy.deepcopy(transform) for transform in pipeline
            if not (str(transform.get('type', '')).startswith('Load')
                    and transform.get('type') not in IMAGE_LOADERS)]


def variant_pipeline(pipeline: list, scale: float, flip: bool) -> list:
    """``pipeline`` with its Resize scaled by ``scale`` and, if ``flip``, a horizontal flip."""
    pipeline = copy.deepcopy(pipeline)
    resizes = [transform for transform in pipeline if transform.get('type') == 'Resize']
    if scale != 1.0:
        if not resizes:
            pipeline.insert(1, dict(type='Resize', scale_factor=scale, keep_ratio=True))
        for resize in resizes:
            if resize.get('scale') is not None:
                resize['scale'] = tuple(int(round(side * scale)) for side in resize['scale'])
            else:
                resize['scale_factor'] = resize.get('scale_factor', 1.0) * scale
    if flip:
        pack = next((index for index, transform in enumerate(pipeline)
                     if transform.get('type') == 'PackSegInputs'), len(pipeline))
        pipeline.insert(pack, dict(type='RandomFlip', prob=1.0, direction='horizontal'))
    return pipeline


def build_model(cfg, checkpoint: str, config: str, device: str) -> torch.nn.Module:
    """The config's segmentor with the checkpoint's weights, in eval mode on ``device``.

    Like ``mmseg.apis.init_model`` but for any segmentor type (``init_model`` adds
    ``pretrained``/``train_cfg`` keys that wrappers such as SemiSupervisedSegmentor do not
    take), with strict weight loading and SyncBN turned into BN, as mmengine's Runner does
    without a process group.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope

    from mmseg.registry import MODELS

    init_default_scope(cfg.get('default_scope', 'mmseg'))
    try:
        model = MODELS.build(cfg.model)
    except (KeyError, TypeError) as error:
        explanation = explain_build_error(error)
        if explanation is None:
            raise
        raise SamWsssError(explanation) from error
    load_model_weights(model, checkpoint, f'the model of {config}')
    model = revert_sync_batchnorm(model)
    model.cfg = cfg
    return model.to(device).eval()


class Predictor:
    """Per-pixel class probabilities of one image, averaged over the TTA variants.

    Args:
        model (torch.nn.Module): A segmentor in eval mode.
        pipeline (list): Test pipeline configs (see :func:`test_pipeline_cfg`).
        variants (Sequence[tuple[float, bool]]): ``(scale, flip)`` per forward pass.
    """

    def __init__(self, model: torch.nn.Module, pipeline: list,
                 variants: Sequence[Tuple[float, bool]]) -> None:
        from mmengine.dataset import Compose

        self.model = model
        self.pipelines = [Compose(variant_pipeline(pipeline, scale, flip))
                          for scale, flip in variants]

    def __call__(self, img_path: str) -> np.ndarray:
        """``(C, H, W) float32`` mean softmax at the image's size."""
        from mmengine.dataset import pseudo_collate

        probabilities = None
        for pipeline in self.pipelines:
            try:
                data = pipeline(dict(img_path=img_path))
            except Exception as error:  # mmcv's loaders raise assorted types for one bad file
                raise SamWsssError(f'{img_path}: cannot load the image ({type(error).__name__}: '
                                   f'{error}); replace the file or pass --skip-bad') from error
            with torch.no_grad():
                result = self.model.test_step(pseudo_collate([data]))[0]
            seg_logits = result.seg_logits.data.float()
            if seg_logits.shape[0] < 2:
                raise SamWsssError('the model has a single-channel (sigmoid) head; '
                                   'predict_labels.py needs one logit per class')
            softmax = seg_logits.softmax(dim=0)
            probabilities = softmax if probabilities is None else probabilities + softmax
        return (probabilities / len(self.pipelines)).cpu().numpy()


def class_and_confidence(probabilities: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Arg-max class ``(H, W) uint8`` and confidence ``(H, W) uint8`` (``round(255 * max)``)."""
    if probabilities.shape[0] > IGNORE_INDEX:
        raise SamWsssError(f'{probabilities.shape[0]} classes do not fit uint8 label PNGs '
                           f'(at most {IGNORE_INDEX}, {IGNORE_INDEX} is ignore)')
    class_map = probabilities.argmax(0).astype(np.uint8)
    confidence = np.round(probabilities.max(0) * 255).clip(0, 255).astype(np.uint8)
    return class_map, confidence


def prediction_meta(args: argparse.Namespace, model: torch.nn.Module) -> dict:
    """What produced the predictions, for ``predict_meta.json``."""
    predictor = getattr(model, 'predictor', model)
    decode_head = getattr(predictor, 'decode_head', None)
    return dict(
        config=osp.abspath(args.config), checkpoint=osp.abspath(args.checkpoint),
        cfg_options=dict(args.cfg_options or {}), model_type=model.cfg.model.get('type'),
        predict_on=getattr(model, 'predict_on', None),
        num_classes=getattr(decode_head, 'num_classes', None),
        tta=dict(scales=list(args.tta_scales or MMSEG_TTA_SCALES), flip=not args.no_flip)
        if args.tta else None,
        confidence=f'<id>{CONF_SUFFIX}: {CONF_ENCODING}')


def write_meta(out_dir: str, meta: dict) -> None:
    """Write ``predict_meta.json`` (after the provenance check has accepted ``out_dir``)."""
    with atomic_write(osp.join(out_dir, META_NAME), 'w') as handle:
        json.dump(meta, handle, indent=2)


def main(argv=None) -> Optional[int]:
    args = parse_args(argv)
    rank, world_size = dist_rank_world()
    check_checkpoint_file(args.checkpoint, 'checkpoint')
    if not osp.isdir(args.img_dir):
        raise SamWsssError(f'{args.img_dir}: --img-dir not found')
    cfg = load_config(args)
    ids = shard(resolve_ids(args.ids, args.img_dir, args.img_suffix), rank, world_size)
    check_output_ids(args.out, ids, ('.png', CONF_SUFFIX), nested=True)
    model = build_model(cfg, args.checkpoint, args.config, resolve_device(args.device))
    pipeline = test_pipeline_cfg(cfg)
    predictor = Predictor(model, pipeline, tta_variants(args))
    meta = prediction_meta(args, model)
    OutputRecord(args.out, 'predict_labels',
                 inputs={'checkpoint': args.checkpoint, '--img-dir': args.img_dir},
                 settings=dict(model=cfg.model.to_dict(), pipeline=pipeline, tta=meta['tta'],
                               img_suffix=args.img_suffix),
                 outputs=OUTPUTS).check_or_write(args.overwrite, rank, world_size)
    if rank == 0:
        write_meta(args.out, meta)

    def is_done(image_id: str) -> bool:
        return (osp.isfile(osp.join(args.out, image_id + '.png'))
                and osp.isfile(osp.join(args.out, image_id + CONF_SUFFIX)))

    def process(image_id: str) -> None:
        img_path = osp.join(args.img_dir, image_id + args.img_suffix)
        if not osp.isfile(img_path):
            raise SamWsssError(f'{img_path}: image not found; check --img-dir, --img-suffix '
                               'and the id list')
        class_map, confidence = class_and_confidence(predictor(img_path))
        write_label_png(osp.join(args.out, image_id + CONF_SUFFIX), confidence, palette=None)
        write_label_png(osp.join(args.out, image_id + '.png'), class_map)

    tally = BadInputTally(args.skip_bad)
    passes = len(predictor.pipelines)
    run_per_id(ids, process, is_done, tally,
               desc=f'predict ({passes} pass{"es" if passes > 1 else ""}/img)')
    print(f'{args.out}: {tally.summary()} ({f"TTA, {passes} passes" if args.tta else "no TTA"})')
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
