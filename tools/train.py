"""Train a segmentor: mmseg's ``tools/train.py`` with the same flags, plus clear config errors.

Works with any mmseg config; ours register the plugin through ``custom_imports``. A run whose
model names no pretrained weights (no ``pretrained``, no ``init_cfg`` of type ``Pretrained``, no
``load_from``) prints a warning saying how to pass them, unless the config sets
``from_scratch_ok = True`` (the demo and smoke configs do).

    python tools/train.py configs/sam_wsss/deeplabv3_voc.py [--work-dir DIR] [--resume] [--amp]
        [--cfg-options key=value ...] [--launcher pytorch]
"""
import argparse
import logging
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.logging import print_log  # noqa: E402

import mmseg_sam_wsss.registration  # noqa: E402,F401  (the plugin and the checkpoint allow-list)
from mmseg_sam_wsss.engine.label_source_hook import add_label_source_hook  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import DefaultsHelpFormatter, run_tool  # noqa: E402
from mmseg_sam_wsss.utils.mm_tools import (add_config_args, build_and_run,  # noqa: E402
                                           check_checkpoint, check_data_roots,
                                           from_scratch_warning, load_config, set_local_rank)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor',
                                     formatter_class=DefaultsHelpFormatter)
    add_config_args(parser)
    parser.add_argument('--resume', action='store_true', default=False,
                        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training')
    args = parser.parse_args()
    set_local_rank(args)
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    add_label_source_hook(cfg)  # logs which labels (and masks) the model trains on
    if args.amp:
        if cfg.optim_wrapper.type == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.', logger='current',
                      level=logging.WARNING)
        elif cfg.optim_wrapper.type != 'OptimWrapper':
            raise SamWsssError('--amp works only with optim_wrapper.type="OptimWrapper", '
                               f'the config has {cfg.optim_wrapper.type!r}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.resume = args.resume
    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    check_checkpoint(cfg.get('load_from'))
    warning = from_scratch_warning(cfg, args.config)
    if warning:
        print(f'warning: {warning}', file=sys.stderr, flush=True)
    build_and_run(cfg, 'train')


if __name__ == '__main__':
    run_tool(main)
