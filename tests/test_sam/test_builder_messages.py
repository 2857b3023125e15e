"""The SAM builder's messages say how to fix the problem: a missing checkpoint names the
official file and where to put it; a checkpoint of another model type names the type that fits
(read from the state dict's shapes)."""
import pytest
import torch
from helpers import load_tool

from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.sam.builder import (CHECKPOINT_NAMES, _sam_architecture,
                                        build_tiny_sam_checkpoint, fitting_model_type,
                                        load_sam_checkpoint)


@pytest.mark.parametrize('model_type', ['vit_h', 'vit_l', 'vit_b'])
def test_missing_checkpoint_names_the_official_file(repo_root, tmp_path, capsys, model_type):
    tool = load_tool(repo_root, 'generate_sam_masks')
    (tmp_path / 'images').mkdir()
    argv = ['--img-dir', str(tmp_path / 'images'), '--out', str(tmp_path / 'store'),
            '--model-type', model_type, '--checkpoint', str(tmp_path / 'sam.pth')]
    with pytest.raises(SystemExit) as exit_info:
        tool.run_tool(lambda: tool.main(argv))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert '\n' not in error and 'does not exist' in error
    name = CHECKPOINT_NAMES[model_type]
    assert f'checkpoints/{name}' in error and 'segment-anything#model-checkpoints' in error


def test_wrong_model_type_says_which_type_fits(tmp_path):
    # the encoder width tells the type: 768 vit_b, 1024 vit_l, 1280 vit_h (pos_embed's last axis)
    for model_type, width in (('vit_b', 768), ('vit_l', 1024), ('vit_h', 1280)):
        assert fitting_model_type({'image_encoder.pos_embed': torch.zeros(1, 64, 64, width)}) \
            == model_type
        assert fitting_model_type({'image_encoder.patch_embed.proj.weight':
                                   torch.zeros(width, 3, 16, 16)}) == model_type
    assert fitting_model_type({'something.else': torch.zeros(3)}) is None
    # a ViT-B-shaped checkpoint given as tiny (the tiny model keeps the test cheap)
    path = str(tmp_path / 'sam_vit_b_01ec64.pth')
    torch.save({'image_encoder.pos_embed': torch.zeros(1, 64, 64, 768)}, path)
    with pytest.raises(SamWsssError) as error:
        load_sam_checkpoint(_sam_architecture('tiny'), path, 'tiny')
    assert 'pass --model-type vit_b' in str(error.value) and '\n' not in str(error.value)
    # the real thing: a tiny checkpoint passed as vit_b
    tiny = build_tiny_sam_checkpoint(str(tmp_path / 'tiny.pth'))
    with pytest.raises(SamWsssError, match="SAM tiny's: pass --model-type tiny"):
        load_sam_checkpoint(_sam_architecture('vit_b'), tiny, 'vit_b')
