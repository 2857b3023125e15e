"""The balanced three-source loss of SeSAM's semi-supervised training, for any decode head."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from mmseg.registry import MODELS

from ..core.semi_supervision import NORMALIZE_MODES, assign_sources, balanced_source_losses


@MODELS.register_module()
class BalancedSemiLoss(nn.Module):
    """Cross-entropy from weak GT, else SAM pseudo-label, else confident teacher labels.

    Per pixel, in priority order: ``λ_gt`` CE against the weak label where one exists; else
    ``λ_sam`` CE against the SAM pseudo-label where it is not 255; else ``λ_conf`` CE against the
    teacher's argmax where the teacher's confidence is ``>= τ``. A pixel has one source at most
    (a weak pixel inside the SAM label counts once, as weak); padding has none.

    ``normalize`` says what each term is divided by: ``'per_source'``, its own pixel count
    (each source weighs the same whatever its size: with points covering 0.3 % of the pixels,
    one weak pixel weighs ~300 SAM pixels); ``'all_pixels'``, the count of all pixels of the
    batch, padding and unsupervised ones adding 0 (one λ-weighted mean, as mmseg's
    ``CrossEntropyLoss`` averages by default: with λ = 1 and no teacher pixels it equals the
    plain CE of the SeSAM label, whose weak pixels keep their weak class).

    The configured values are the only source of truth: ``conf_thresh`` is τ and is never
    changed. :class:`~mmseg_sam_wsss.engine.SemiSupervisedHook` sets two schedule attributes
    each iteration, both derived from it: ``conf_scale`` (a ramp factor in [0, 1] on
    ``λ_conf``) and ``current_conf_thresh`` (the τ in effect; it equals ``conf_thresh`` unless
    the hook is given ``conf_thresh_start``, and then reaches ``conf_thresh`` at the end of
    its ramp).

    Args:
        lambda_gt (float): Weight of the weak-GT term. Default: 1.0.
        lambda_sam (float): Weight of the SAM pseudo-label term. Default: 1.0.
        lambda_conf (float): Weight of the confident-teacher term after its ramp. Default: 1.0.
        conf_thresh (float): τ, the teacher confidence needed to supervise. Default: 0.95.
        normalize (str): ``'per_source'`` or ``'all_pixels'`` (see above).
            Default: 'per_source'.
    """

    def __init__(self, lambda_gt: float = 1.0, lambda_sam: float = 1.0, lambda_conf: float = 1.0,
                 conf_thresh: float = 0.95, normalize: str = 'per_source') -> None:
        super().__init__()
        if normalize not in NORMALIZE_MODES:
            raise ValueError(f'BalancedSemiLoss: normalize must be one of {NORMALIZE_MODES}, '
                             f'got {normalize!r}')
        self.normalize = normalize
        self.lambda_gt = lambda_gt
        self.lambda_sam = lambda_sam
        self.lambda_conf = lambda_conf
        self.conf_thresh = conf_thresh
        self.conf_scale = 1.0
        self.current_conf_thresh = conf_thresh

    def forward(self, seg_logits: torch.Tensor, weak_label: torch.Tensor,
                sam_label: torch.Tensor, teacher_probs: Optional[torch.Tensor] = None,
                valid: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Compute the three terms and the share of pixels each source supervises.

        Args:
            seg_logits (Tensor): ``(N, C, H, W)`` logits at label resolution.
            weak_label (Tensor): ``(N, H, W) int64``, 255 = unlabelled.
            sam_label (Tensor): ``(N, H, W) int64``, 255 = none.
            teacher_probs (Tensor, optional): ``(N, C, H, W)`` teacher softmax.
            valid (Tensor, optional): ``(N, H, W) bool`` pixels inside the images (not
                padding); None = all.

        Returns:
            dict: ``loss_gt``, ``loss_sam``, ``loss_conf``, ``share_gt``, ``share_sam``,
            ``share_conf``.
        """
        source, target = assign_sources(weak_label, sam_label, teacher_probs,
                                        self.current_conf_thresh, valid)
        weights = dict(gt=self.lambda_gt, sam=self.lambda_sam,
                       conf=self.lambda_conf * self.conf_scale)
        return balanced_source_losses(seg_logits, source, target, weights, self.normalize)

    def extra_repr(self) -> str:
        return (f'lambda_gt={self.lambda_gt}, lambda_sam={self.lambda_sam}, '
                f'lambda_conf={self.lambda_conf}, conf_thresh={self.conf_thresh}, '
                f'normalize={self.normalize!r}')
