# The smoke configs' schedule: 20 iterations of the full configs' PolyLR, validation and a
# checkpoint at the end, a log line every 5. Listed beside a full config in _base_ (so the names
# are new to it) and applied with {{_base_.smoke_train_cfg}} and its siblings. Other lengths:
# tools/run_pipeline.py --cam-iters/--seg-iters, or mmseg_sam_wsss.utils.mm_tools.schedule_options.
smoke_max_iters = 20
smoke_train_cfg = dict(max_iters=smoke_max_iters, val_interval=smoke_max_iters)
smoke_param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=smoke_max_iters, by_epoch=False)
]
smoke_default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=smoke_max_iters), logger=dict(interval=5))
