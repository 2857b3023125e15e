"""Test (and evaluate) a segmentor: mmseg's ``tools/test.py`` with the same flags.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out DIR] [--show] [--show-dir DIR]
        [--tta] [--cfg-options key=value ...] [--launcher pytorch]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402

import mmseg_sam_wsss.registration  # noqa: E402,F401  (the plugin and the checkpoint allow-list)
from mmseg_sam_wsss.engine.label_source_hook import add_label_source_hook  # noqa: E402
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import DefaultsHelpFormatter, run_tool  # noqa: E402
from mmseg_sam_wsss.utils.mm_tools import (add_config_args, build_and_run,  # noqa: E402
                                           check_checkpoint, check_data_roots, load_config,
                                           set_local_rank)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='MMSeg test (and eval) a model',
                                     formatter_class=DefaultsHelpFormatter)
    add_config_args(parser)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory to save the predicted label PNGs')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory where painted images will be saved '
                        '(under work_dir/timestamp)')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--tta', action='store_true', help='test time augmentation')
    args = parser.parse_args()
    set_local_rank(args)
    return args


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """Turn on mmseg's VisualizationHook for ``--show``/``--show-dir``, as mmseg's tool does."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise SamWsssError("--show/--show-dir need default_hooks.visualization="
                           "dict(type='SegVisualizationHook') in the config")
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        cfg.visualizer['save_dir'] = args.show_dir


def main() -> None:
    args = parse_args()
    check_checkpoint(args.checkpoint)
    cfg = load_config(args)
    add_label_source_hook(cfg)  # logs which labels (and masks) the model trains on
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.tta:
        if 'tta_pipeline' not in cfg or 'tta_model' not in cfg:
            raise SamWsssError('--tta needs tta_pipeline and tta_model in the config '
                               "(mmseg's default_runtime.py defines tta_model)")
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    check_data_roots(cfg, ('test_dataloader',))
    build_and_run(cfg, 'test')


if __name__ == '__main__':
    run_tool(main)
