"""The stage lists of ``tools/run_pipeline.py``: which tool runs when, with which config and
data, for the demo (:mod:`.demo`), VOC and COCO (:mod:`.voc_coco`), built from the SEPL
(:mod:`.sepl`) and SeSAM (:mod:`.sesam`) stages and the shared pieces of :mod:`.common`. Nothing
here runs a stage: ``mmseg_sam_wsss.utils.stages.StageRunner`` does.
"""
