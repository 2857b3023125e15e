"""Build a segment_anything ``Sam`` from an official checkpoint, or a tiny random one for tests.

``build_sam('vit_h', checkpoint='checkpoints/sam_vit_h_4b8939.pth')`` builds SAM's ViT-H with
segment_anything's own classes and loads the state dict with ``weights_only=True``. Missing
files are an error that names the expected file, never a download. ``model_type='tiny'`` with
``random_init=True`` gives a small random model for tests; its masks are noise, and the model
says so in its ``mask_source`` attribute, which every output of this package records.
torch + segment_anything only; no mmseg, no mmcv.
"""
import os
import pickle
import os.path as osp
from functools import partial
from typing import Optional

import torch
from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                       TwoWayTransformer)

from ..errors import SamWsssError

RANDOM_INIT_SOURCE = 'sam-random-init (not SAM)'
TINY_SOURCE = 'sam-tiny test model (not SAM)'

# Image-encoder settings of segment_anything's build_sam_vit_{h,l,b}.
SAM_ENCODERS = {
    'vit_h': dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
    'vit_l': dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    'vit_b': dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
}
CHECKPOINT_NAMES = {
    'vit_h': 'sam_vit_h_4b8939.pth',
    'vit_l': 'sam_vit_l_0b3195.pth',
    'vit_b': 'sam_vit_b_01ec64.pth',
}
# Tests only: 128 px input, 8x8 embedding grid, a 2-block encoder and a 1-block decoder.
TINY = dict(image_size=128, patch_size=16, embed_dim=32, depth=2, num_heads=2,
            global_attn_indexes=(1, ), window_size=4, prompt_embed_dim=32, mask_in_chans=4,
            decoder_depth=1, decoder_mlp_dim=64, decoder_heads=2, iou_head_hidden_dim=16)
MODEL_TYPES = tuple(SAM_ENCODERS) + ('tiny', )


def missing_checkpoint_message(model_type: str, checkpoint: Optional[str]) -> str:
    """One line for a missing SAM checkpoint: where to download it, where to put it and the
    official file name of ``model_type``."""
    where = f'{checkpoint} does not exist' if checkpoint else 'no checkpoint given'
    if model_type not in CHECKPOINT_NAMES:
        return (f'SAM {model_type} checkpoint: {where}; {model_type} is a test model: write one '
                'with mmseg_sam_wsss.sam.builder.build_tiny_sam_checkpoint, or pass '
                '--random-init-for-tests')
    expected_name = CHECKPOINT_NAMES[model_type]
    return (f'SAM {model_type} checkpoint: {where}; download {expected_name} from '
            'https://github.com/facebookresearch/segment-anything#model-checkpoints, put it '
            f'e.g. at checkpoints/{expected_name} and pass --checkpoint '
            f'checkpoints/{expected_name} (nothing is downloaded automatically)')


def check_sam_checkpoint(checkpoint: Optional[str], model_type: str) -> None:
    """Refuse a missing SAM checkpoint (naming the file expected) or one that is no PyTorch
    checkpoint, before the model is built."""
    from ..utils.cli import check_checkpoint_file
    if checkpoint and '://' not in checkpoint and not osp.isfile(checkpoint):
        raise SamWsssError(missing_checkpoint_message(model_type, checkpoint))
    check_checkpoint_file(checkpoint)


def fitting_model_type(state_dict: dict) -> Optional[str]:
    """The SAM type whose image encoder has the width of ``state_dict``'s (from
    ``image_encoder.pos_embed`` or the patch embedding), or None when it tells none."""
    widths = {cfg['embed_dim']: name for name, cfg in SAM_ENCODERS.items()}
    widths[TINY['embed_dim']] = 'tiny'
    for key, axis in (('image_encoder.pos_embed', -1), ('image_encoder.patch_embed.proj.weight',
                                                        0)):
        value = state_dict.get(key)
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return widths.get(int(value.shape[axis]))
    return None


def _sam_architecture(model_type: str) -> Sam:
    """An untrained ``Sam`` of ``model_type``, shaped as segment_anything's ``_build_sam``."""
    if model_type == 'tiny':
        cfg = dict(TINY)
    else:
        cfg = dict(image_size=1024, patch_size=16, window_size=14, prompt_embed_dim=256,
                   mask_in_chans=16, decoder_depth=2, decoder_mlp_dim=2048, decoder_heads=8,
                   iou_head_hidden_dim=256, **SAM_ENCODERS[model_type])
    embedding_size = cfg['image_size'] // cfg['patch_size']
    return Sam(
        image_encoder=ImageEncoderViT(
            depth=cfg['depth'], embed_dim=cfg['embed_dim'], img_size=cfg['image_size'],
            mlp_ratio=4, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=cfg['num_heads'], patch_size=cfg['patch_size'], qkv_bias=True,
            use_rel_pos=True, global_attn_indexes=tuple(cfg['global_attn_indexes']),
            window_size=cfg['window_size'], out_chans=cfg['prompt_embed_dim']),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg['prompt_embed_dim'],
            image_embedding_size=(embedding_size, embedding_size),
            input_image_size=(cfg['image_size'], cfg['image_size']),
            mask_in_chans=cfg['mask_in_chans']),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=cfg['decoder_depth'],
                                          embedding_dim=cfg['prompt_embed_dim'],
                                          mlp_dim=cfg['decoder_mlp_dim'],
                                          num_heads=cfg['decoder_heads']),
            transformer_dim=cfg['prompt_embed_dim'], iou_head_depth=3,
            iou_head_hidden_dim=cfg['iou_head_hidden_dim']),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375])


def load_sam_checkpoint(sam_model: Sam, checkpoint: str, model_type: str) -> None:
    """Load ``checkpoint`` (a plain state dict) into ``sam_model``; every key must match.

    Raises:
        SamWsssError: The file is unreadable, or keys are missing/unexpected/mis-shaped.
    """
    try:
        state_dict = torch.load(checkpoint, map_location='cpu', weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, TypeError, AttributeError, KeyError,
            IndexError, UnicodeDecodeError, MemoryError,
            pickle.UnpicklingError) as error:  # what unpickling a wrong file raises
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise SamWsssError(f'{checkpoint}: cannot load the SAM checkpoint ({reason}); '
                           'download it again from the segment-anything release') from error
    if isinstance(state_dict, dict) and 'model' in state_dict and isinstance(
            state_dict['model'], dict):
        state_dict = state_dict['model']
    if not isinstance(state_dict, dict):
        raise SamWsssError(f'{checkpoint}: not a state dict; pass an official SAM checkpoint')
    expected = sam_model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mis_shaped = sorted(key for key in set(expected) & set(state_dict)
                        if tuple(expected[key].shape) != tuple(state_dict[key].shape))
    if missing or unexpected or mis_shaped:
        def show(keys):
            return ', '.join(keys[:5]) + (f' ... ({len(keys)} in all)' if len(keys) > 5 else '')
        fits = fitting_model_type(state_dict)
        fix = (f'its image encoder is SAM {fits}\'s: pass --model-type {fits}'
               if fits and fits != model_type else
               'check --model-type matches the checkpoint file')
        raise SamWsssError(
            f'{checkpoint}: does not fit SAM {model_type} (missing keys: {show(missing) or "none"}'
            f'; unexpected keys: {show(unexpected) or "none"}; wrong shapes: '
            f'{show(mis_shaped) or "none"}); {fix}')
    sam_model.load_state_dict(state_dict, strict=True)


def resolve_device(requested: str) -> str:
    """A ``--device`` value for this process: ``auto``/``cuda`` become ``cuda:LOCAL_RANK``
    (each torchrun rank on its own GPU), ``auto`` becomes ``cpu`` without a GPU."""
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if requested == 'auto':
        return f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu'
    if requested.startswith('cuda') and not torch.cuda.is_available():
        raise SamWsssError(f'--device {requested}: no CUDA GPU here; use --device cpu')
    return f'cuda:{local_rank}' if requested == 'cuda' else requested


def build_sam(model_type: str, checkpoint: Optional[str] = None, random_init: bool = False,
              device: str = 'cpu') -> Sam:
    """Build SAM in eval mode, with ``mask_source`` recording where its weights come from.

    Args:
        model_type (str): ``'vit_h'``, ``'vit_l'``, ``'vit_b'`` or ``'tiny'`` (tests only;
            loaded from a checkpoint its ``mask_source`` is ``'sam-tiny test model (not SAM)'``).
        checkpoint (str, optional): State-dict file; required unless ``random_init``.
            The official names are in :data:`CHECKPOINT_NAMES`.
        random_init (bool): Keep random weights (tests only). The model's ``mask_source`` is
            then ``'sam-random-init (not SAM)'``. Default: False.
        device (str): Torch device. Default: ``'cpu'``.

    Returns:
        Sam: The model, with ``mask_source`` (``'sam-vit_h'`` etc., or the random-init marker)
        and ``model_type`` attributes.
    """
    if model_type not in MODEL_TYPES:
        raise SamWsssError(f'unknown SAM model type {model_type!r}; use one of '
                           f'{", ".join(MODEL_TYPES)}')
    sam_model = _sam_architecture(model_type)
    if random_init:
        if checkpoint is not None:
            raise SamWsssError('pass either a checkpoint or random_init=True, not both')
        mask_source = RANDOM_INIT_SOURCE
    else:
        if checkpoint is None or not osp.isfile(checkpoint):
            raise SamWsssError(missing_checkpoint_message(model_type, checkpoint))
        load_sam_checkpoint(sam_model, checkpoint, model_type)
        mask_source = TINY_SOURCE if model_type == 'tiny' else f'sam-{model_type}'
    sam_model.mask_source = mask_source
    sam_model.model_type = model_type
    return sam_model.eval().to(device)


def build_tiny_sam_checkpoint(path: str, seed: int = 0) -> str:
    """Write the state dict of a seeded tiny random SAM to ``path`` (tests only)."""
    torch.manual_seed(seed)
    torch.save(_sam_architecture('tiny').state_dict(), path)
    return path
