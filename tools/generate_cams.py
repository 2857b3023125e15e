"""Generate CAMs and CAM pseudo-labels with a trained CAMSegmentor (multi-scale + flip).

    python tools/generate_cams.py CONFIG CHECKPOINT --out DIR [--scales 0.5 1.0 1.5 2.0]
        [--no-flip] [--bg-thresh 0.15] [--split train|trainaug|val | --ids IDS.txt] [--skip-bad]
        [--cfg-options key=value ...] [--launcher pytorch] [--overwrite]

Writes, per image id, ``DIR/cams/<id>.npz`` (``cams``: ``(K, H, W) float16`` CAMs normalised to
[0, 1] for the K tagged classes, ``class_ids``: ``(K,) int64``; background has no map) and
``DIR/pseudo_labels/<id>.png`` (single-channel class ids, VOC palette; background where every
CAM is below ``--bg-thresh``). Images are read with the config's ``test_dataloader`` dataset
and pipeline (tags from ``LoadImageTags``): its own id list (``ann_file``; the train ids in the
VOC and COCO CAM configs), ``--split NAME`` for a VOC layout's
``ImageSets/Segmentation/NAME.txt`` (``train``, ``val``, or ``trainaug``, the 10,582 train_aug
ids that mmseg's ``tools/dataset_converters/voc_aug.py`` writes), or ``--ids FILE`` for any
layout. Finished ids are skipped, so a killed run resumes, but only when
``DIR/.provenance.json`` shows the same checkpoint, images, model and test settings (scales,
flip, ``--bg-thresh``); anything else is refused (``--overwrite`` replaces the outputs). A
corrupt image stops the run with one line naming it, or is counted under ``--skip-bad`` (exit
3). Under torchrun (``--launcher pytorch``) every rank takes its own share of the ids; no
process group is needed.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402

import mmseg_sam_wsss.registration  # noqa: E402,F401  (the plugin and the checkpoint allow-list)
from mmseg_sam_wsss.core.io import atomic_write, read_ids, write_label_png  # noqa: E402
from mmseg_sam_wsss.core.output_paths import check_output_ids  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (BadInputTally, add_common_args,  # noqa: E402
                                      add_overwrite_arg, check_checkpoint_file, dist_rank_world,
                                      document_ranges, float_in, run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.mm_tools import (add_config_args, check_data_roots,  # noqa: E402
                                           load_config, load_model_weights, set_local_rank)
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402

OUTPUTS = ('cams/*.npz', 'pseudo_labels/*.png')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Generate CAMs and CAM pseudo-labels')
    add_config_args(parser)
    parser.add_argument('checkpoint', help='checkpoint of a CAMSegmentor (tools/train.py)')
    parser.add_argument('--out', required=True, help='output directory (cams/, pseudo_labels/)')
    parser.add_argument('--scales', type=float_in(0.0, 8.0, low_open=True), nargs='+',
                        default=[0.5, 1.0, 1.5, 2.0],
                        help='resize factors of the test input (default: 0.5 1.0 1.5 2.0)')
    parser.add_argument('--no-flip', action='store_true',
                        help='do not add horizontally flipped copies')
    parser.add_argument('--bg-thresh', type=float_in(0.0, 1.0), default=None,
                        help='background where every CAM is below it (default: the config\'s '
                        'model.decode_head.bg_thresh, 0.15 in cam_r50_voc.py)')
    parser.add_argument('--split', default=None,
                        help='VOC layout: ImageSets/Segmentation/<split>.txt under the test '
                        'data_root, e.g. train, trainaug (train_aug, written by mmseg\'s '
                        'voc_aug.py) or val (default: the config\'s '
                        'test_dataloader.dataset.ann_file); --ids overrides it')
    parser.add_argument('--device', default=None,
                        help='torch device (default: cuda:LOCAL_RANK if available, else cpu)')
    add_common_args(parser, workers=False)
    add_overwrite_arg(parser)
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    set_local_rank(args)
    return args


def build_model_and_dataset(args: argparse.Namespace):
    """The CAMSegmentor with its checkpoint, and the image dataset of the chosen ids."""
    from mmengine.registry import init_default_scope

    from mmseg.apis import init_model
    from mmseg.registry import DATASETS

    cfg = load_config(args)
    dataset_cfg = cfg.test_dataloader.dataset
    if args.ids:
        read_ids(args.ids)  # one line for a missing or empty list, not a traceback from mmseg
        dataset_cfg.ann_file = osp.abspath(args.ids)
    elif args.split:
        dataset_cfg.ann_file = f'ImageSets/Segmentation/{args.split}.txt'
    check_data_roots(cfg, ('test_dataloader', ))
    if cfg.model.get('type') != 'CAMSegmentor':
        raise SamWsssError(f'{args.config}: model.type is {cfg.model.get("type")!r}; '
                           'generate_cams.py needs a CAMSegmentor config such as '
                           'configs/sam_wsss/cam_r50_voc.py')
    cfg.model.test_cfg.update(scales=tuple(args.scales), flip=not args.no_flip)
    if args.bg_thresh is not None:
        cfg.model.decode_head.bg_thresh = args.bg_thresh
    device = args.device or (f'cuda:{os.environ.get("LOCAL_RANK", 0)}'
                             if torch.cuda.is_available() else 'cpu')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    settings = dict(scales=list(args.scales), flip=not args.no_flip,
                    bg_thresh=cfg.model.decode_head.get('bg_thresh'), model=cfg.model.to_dict(),
                    pipeline=list(dataset_cfg.get('pipeline', [])))
    model = init_model(cfg, None, device='cpu')
    load_model_weights(model, args.checkpoint,
                       f"this config's CAMSegmentor ({args.config})")
    model.to(device)
    dataset = DATASETS.build(dataset_cfg)
    img_dir = osp.join(dataset_cfg.get('data_root', '') or '',
                       (dataset_cfg.get('data_prefix') or {}).get('img_path', '') or '')
    return model, dataset, settings, img_dir


def explain_load_error(data_info: dict, error: Exception) -> SamWsssError:
    """One line naming the file that failed to load (image or label), else the error."""
    from PIL import Image
    for key in ('img_path', 'seg_map_path'):
        path = data_info.get(key)
        if not path:
            continue
        if not osp.isfile(path):
            return SamWsssError(f'{path}: not found; check the data_root and the id list')
        try:
            with Image.open(path) as image:
                image.load()
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as bad:
            return SamWsssError(f'{path}: cannot read ({bad}); the file is corrupt, replace it '
                                'or pass --skip-bad')
    return SamWsssError(f'{data_info.get("img_path")}: cannot load the image or its label '
                        f'({type(error).__name__}: {error}); check the files under the '
                        'data_root')


def main(argv=None) -> int:
    args = parse_args(argv)
    rank, world_size = dist_rank_world()
    check_checkpoint_file(args.checkpoint, 'checkpoint')
    model, dataset, settings, img_dir = build_model_and_dataset(args)
    OutputRecord(args.out, 'generate_cams',
                 inputs={'checkpoint': args.checkpoint, 'images': img_dir},
                 settings=settings, outputs=OUTPUTS).check_or_write(args.overwrite, rank,
                                                                    world_size)
    index_of = {osp.splitext(osp.basename(dataset.get_data_info(index)['img_path']))[0]: index
                for index in range(len(dataset))}
    check_output_ids(args.out, index_of, ('.npz', '.png'), folders=('cams', 'pseudo_labels'))
    ids = shard(sorted(index_of), rank, world_size)
    cam_dir, label_dir = osp.join(args.out, 'cams'), osp.join(args.out, 'pseudo_labels')

    def is_done(image_id: str) -> bool:
        return (osp.isfile(osp.join(cam_dir, f'{image_id}.npz'))
                and osp.isfile(osp.join(label_dir, f'{image_id}.png')))

    def process(image_id: str) -> None:
        try:
            data = dataset[index_of[image_id]]
        except SamWsssError:
            raise
        except Exception as error:  # mmcv's loaders raise assorted types for one bad file
            raise explain_load_error(dataset.get_data_info(index_of[image_id]), error) \
                from error
        with torch.no_grad():
            result = model.test_step(pseudo_collate([data]))[0]
        cams = result.seg_logits.data.cpu().numpy()
        if result.metainfo.get('image_tags') is not None:
            class_ids = np.asarray(result.metainfo['image_tags'], dtype=np.int64)
        else:
            class_ids = np.arange(1, cams.shape[0], dtype=np.int64)
        with atomic_write(osp.join(cam_dir, f'{image_id}.npz')) as handle:
            np.savez(handle, cams=cams[class_ids].astype(np.float16), class_ids=class_ids)
        write_label_png(osp.join(label_dir, f'{image_id}.png'),
                        result.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8))

    tally = BadInputTally(args.skip_bad)
    run_per_id(ids, process, is_done, tally, desc=f'CAMs (rank {rank}/{world_size})')
    print(f'{args.out}: {tally.summary()} (scales {args.scales}, flip {not args.no_flip})')
    return tally.exit_code()


if __name__ == '__main__':
    run_tool(main)
