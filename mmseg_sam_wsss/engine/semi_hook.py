"""The scheduling half of SeSAM's semi-supervised training: EMA teacher, λ_conf and τ ramps."""
from typing import Optional

import numpy as np

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmseg.registry import HOOKS

from ..core.semi_supervision import ema_update, linear_ramp, sigmoid_ramp
from ..errors import SamWsssError


@HOOKS.register_module()
class SemiSupervisedHook(Hook):
    """Update the EMA teacher and schedule the confident-label term, as mmdet's MeanTeacherHook.

    After each train iteration: ``teacher = m * teacher + (1 - m) * student`` over parameters
    and floating buffers, with ``m = min(momentum, (1 + iter) / (10 + iter))`` while warming up
    (the teacher follows the student closely at first). The warm-up cap reaches a momentum
    ``m`` only after ``(10 m - 1) / (1 - m)`` iterations (0.98 after 440, 0.99 after 890, 0.999
    after 8,990): a schedule shorter than that never trains with the configured ``momentum``
    (:meth:`warmup_iters` gives the number). Before each iteration it sets the
    loss's schedule attributes, never its configured values: ``conf_scale`` (a sigmoid ramp
    from 0 to 1 over ``conf_ramp_iters`` that multiplies ``λ_conf``, so teacher labels count
    only once the teacher is worth listening to) and ``current_conf_thresh`` (the τ in effect:
    the loss's configured ``conf_thresh``, or, with ``conf_thresh_start``, linear from
    ``conf_thresh_start`` to the loss's ``conf_thresh`` over ``conf_thresh_iters``). The values
    are logged through the MessageHub. ``before_train`` marks the model as driven by this hook;
    ``SemiSupervisedSegmentor.loss`` refuses to train without it. The teacher is a submodule of
    the model, so checkpoints and ``--resume`` keep it; every schedule here is a function of
    the iteration, so nothing else needs saving.

    Args:
        momentum (float): EMA momentum of the teacher. Default: 0.999.
        warmup (bool): Use ``min(momentum, (1 + iter) / (10 + iter))``. Default: True.
        interval (int): Update the teacher every ``interval`` iterations. Default: 1.
        conf_ramp_iters (int): Length of λ_conf's ramp-up. Default: 1000.
        conf_thresh_start (float, optional): τ at iteration 0, ramped linearly to the loss's
            ``conf_thresh``; None keeps τ at the loss's ``conf_thresh``. Default: None.
        conf_thresh_iters (int): Length of τ's ramp; must be > 0 with ``conf_thresh_start``.
            Default: 0.
    """

    priority = 'NORMAL'

    def __init__(self, momentum: float = 0.999, warmup: bool = True, interval: int = 1,
                 conf_ramp_iters: int = 1000, conf_thresh_start: Optional[float] = None,
                 conf_thresh_iters: int = 0) -> None:
        if not 0.0 < momentum < 1.0:
            raise SamWsssError(f'SemiSupervisedHook: momentum must be in (0, 1), got {momentum}')
        if conf_thresh_start is not None and conf_thresh_iters <= 0:
            raise SamWsssError('SemiSupervisedHook: conf_thresh_start needs conf_thresh_iters > 0 '
                               '(the ramp length); drop conf_thresh_start to keep the '
                               "loss's conf_thresh")
        self.momentum = momentum
        self.warmup = warmup
        self.interval = interval
        self.conf_ramp_iters = conf_ramp_iters
        self.conf_thresh_start = conf_thresh_start
        self.conf_thresh_iters = conf_thresh_iters

    @staticmethod
    def _model(runner: Runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not (hasattr(model, 'teacher') and hasattr(model, 'student')
                and hasattr(model, 'semi_loss')):
            raise SamWsssError('SemiSupervisedHook needs model.type="SemiSupervisedSegmentor" '
                               '(a model with student, teacher and semi_loss)')
        return model

    def before_train(self, runner: Runner) -> None:
        """Mark the model as hooked; start the teacher as a copy of the student, unless resuming."""
        model = self._model(runner)
        model.teacher_hooked = True
        if runner.iter == 0:
            self._update_teacher(model, momentum=0.0)

    def before_train_iter(self, runner: Runner, batch_idx: int, data_batch=None) -> None:
        model = self._model(runner)
        loss = model.semi_loss
        loss.conf_scale = self.conf_scale(runner.iter)
        loss.current_conf_thresh = self.conf_thresh(runner.iter, loss.conf_thresh)
        runner.message_hub.update_scalar('train/conf_scale', loss.conf_scale)
        runner.message_hub.update_scalar('train/conf_thresh', loss.current_conf_thresh)

    def conf_scale(self, iteration: int) -> float:
        """The factor on λ_conf at ``iteration`` (0-based)."""
        return sigmoid_ramp(iteration, self.conf_ramp_iters)

    def conf_thresh(self, iteration: int, configured: float) -> float:
        """τ at ``iteration``, given the loss's ``configured`` ``conf_thresh``."""
        if self.conf_thresh_start is None:
            return configured
        return linear_ramp(iteration, 0, self.conf_thresh_iters, self.conf_thresh_start,
                           configured)

    def after_train_iter(self, runner: Runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if (runner.iter + 1) % self.interval != 0:
            return
        momentum = self.current_momentum(runner.iter)
        self._update_teacher(self._model(runner), momentum)
        runner.message_hub.update_scalar('train/ema_momentum', momentum)

    def current_momentum(self, iteration: int) -> float:
        """The EMA momentum used after ``iteration`` (0-based)."""
        if not self.warmup:
            return self.momentum
        return min(self.momentum, (1.0 + iteration) / (10.0 + iteration))

    def warmup_iters(self) -> int:
        """The first iteration whose momentum is the configured one (0 without warm-up)."""
        if not self.warmup:
            return 0
        iteration = max(0, int(np.ceil((10.0 * self.momentum - 1.0) / (1.0 - self.momentum))))
        while self.current_momentum(iteration) < self.momentum:  # float rounding at the edge
            iteration += 1
        return iteration

    @staticmethod
    def _update_teacher(model, momentum: float) -> None:
        teacher = list(model.teacher.parameters()) + list(model.teacher.buffers())
        student = list(model.student.parameters()) + list(model.student.buffers())
        ema_update(teacher, student, momentum)
