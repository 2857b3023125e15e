"""The SAM wrapper: model building, fast automatic masks, prompting. Only torch,
segment_anything, numpy and pycocotools; no mmseg, no mmcv."""
