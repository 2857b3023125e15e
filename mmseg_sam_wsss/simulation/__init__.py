"""Instruments for measuring the method, NOT the method: procedural scenes, GT mask and prompt
oracles (perfect, and with simulated SAM errors), superpixels and weak-label synthesis.

Everything here says in its outputs that it is not SAM. The method itself lives in
:mod:`mmseg_sam_wsss.core` and never imports this package.
"""
