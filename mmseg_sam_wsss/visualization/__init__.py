"""Pictures and reports: colour labels, mask overlays, picture grids, loss curves and the HTML
report (as mmseg keeps drawing in ``mmseg/visualization/``). NumPy + matplotlib; no mmseg."""
