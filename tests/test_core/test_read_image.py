"""read_image: RGB as is, greyscale (COCO has such JPEGs) as three equal channels, other modes
refused with one line."""
import numpy as np
import pytest
from PIL import Image

from mmseg_sam_wsss.core.io import read_image
from mmseg_sam_wsss.errors import SamWsssError


def test_greyscale_jpeg_reads_as_rgb_and_other_modes_are_refused(tmp_path):
    grey = np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) % 251
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / 'grey.png')
    image = read_image(str(tmp_path / 'grey.png'))
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert (image == grey[:, :, None]).all()
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / 'grey.jpg')
    assert read_image(str(tmp_path / 'grey.jpg')).shape == (48, 64, 3)
    Image.new('RGB', (5, 4), (1, 2, 3)).save(tmp_path / 'rgb.png')
    assert read_image(str(tmp_path / 'rgb.png'))[0, 0].tolist() == [1, 2, 3]
    Image.new('RGBA', (5, 4)).save(tmp_path / 'rgba.png')
    with pytest.raises(SamWsssError, match="rgba.png: image mode is 'RGBA'"):
        read_image(str(tmp_path / 'rgba.png'))
