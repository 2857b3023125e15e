"""The algorithms, over NumPy/torch arrays only. Nothing here imports mmseg or mmcv."""
