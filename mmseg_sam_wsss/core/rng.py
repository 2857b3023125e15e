"""Per-image random generators, so a result depends on (seed, image id) and not on run order."""
import zlib

import numpy as np


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``image_id`` (crc32, not ``hash``)."""
    return np.random.default_rng([int(seed), zlib.crc32(image_id.encode('utf-8'))])
