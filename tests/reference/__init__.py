"""Reference implementations the tests compare ours against (not part of the package).

``sepl_reference``: the SEPL paper's public merge code, re-implemented plainly; the merge
benchmark (``benchmarks/bench_enhance.py``) times it as its baseline.
"""
