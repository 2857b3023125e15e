"""Generate CAMs and CAM pseudo-labels with a trained CAMSegmentor (multi-scale + flip).

    python tools/generate_cams.py CONFIG CHECKPOINT --out DIR [--scales 0.5 1.0 1.5 2.0]
        [--no-flip] [--bg-thresh 0.15] [--split train|val | --ids IDS.txt] [--skip-bad]
        [--cfg-options key=value ...] [--launcher pytorch]

Writes, per image id, ``DIR/cams/<id>.npz`` (``cams``: ``(K, H, W) float16`` CAMs normalised to
[0, 1] for the K tagged classes, ``class_ids``: ``(K,) int64``; background has no map) and
``DIR/pseudo_labels/<id>.png`` (single-channel class ids, VOC palette; background where every
CAM is below ``--bg-thresh``). Images are read with the config's ``test_dataloader`` pipeline
(tags from ``LoadImageTags``). Finished ids are skipped, so a killed run resumes. Under torchrun
(``--launcher pytorch``) every rank takes its own share of the ids; no process group is needed.
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
from mmseg_sam_wsss.core.io import atomic_write, write_label_png  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (BadInputTally, add_common_args,  # noqa: E402
                                      dist_rank_world, run_per_id, run_tool, shard)
from mmseg_sam_wsss.utils.mm_tools import (add_config_args, check_checkpoint,  # noqa: E402
                                           check_data_roots, load_config, set_local_rank)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Generate CAMs and CAM pseudo-labels')
    add_config_args(parser)
    parser.add_argument('checkpoint', help='checkpoint of a CAMSegmentor (tools/train.py)')
    parser.add_argument('--out', required=True, help='output directory (cams/, pseudo_labels/)')
    parser.add_argument('--scales', type=float, nargs='+', default=[0.5, 1.0, 1.5, 2.0],
                        help='resize factors of the test input (default: 0.5 1.0 1.5 2.0)')
    parser.add_argument('--no-flip', action='store_true',
                        help='do not add horizontally flipped copies')
    parser.add_argument('--bg-thresh', type=float, default=None,
                        help='background where every CAM is below it (default: the config\'s '
                        'model.decode_head.bg_thresh, 0.15 in cam_r50_voc.py)')
    parser.add_argument('--split', default='train',
                        help='ImageSets/Segmentation/<split>.txt under the test data_root '
                        '(default: train); --ids overrides it')
    parser.add_argument('--device', default=None,
                        help='torch device (default: cuda:LOCAL_RANK if available, else cpu)')
    add_common_args(parser, workers=False)
    args = parser.parse_args()
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
        if not osp.isfile(args.ids):
            raise SamWsssError(f'{args.ids}: id list not found; pass a file with one id a line')
        dataset_cfg.ann_file = osp.abspath(args.ids)
    else:
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
    model = init_model(cfg, args.checkpoint, device=device)
    dataset = DATASETS.build(dataset_cfg)
    return model, dataset


def main() -> int:
    args = parse_args()
    check_checkpoint(args.checkpoint)
    model, dataset = build_model_and_dataset(args)
    index_of = {osp.splitext(osp.basename(dataset.get_data_info(index)['img_path']))[0]: index
                for index in range(len(dataset))}
    rank, world_size = dist_rank_world()
    ids = shard(sorted(index_of), rank, world_size)
    cam_dir, label_dir = osp.join(args.out, 'cams'), osp.join(args.out, 'pseudo_labels')

    def is_done(image_id: str) -> bool:
        return (osp.isfile(osp.join(cam_dir, f'{image_id}.npz'))
                and osp.isfile(osp.join(label_dir, f'{image_id}.png')))

    def process(image_id: str) -> None:
        try:
            data = dataset[index_of[image_id]]
        except (OSError, ValueError) as error:
            raise SamWsssError(f'{image_id}: cannot load the image or its label ({error}); '
                               'check the files under the data_root') from error
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
    return 1 if tally.bad else 0


if __name__ == '__main__':
    run_tool(main)
