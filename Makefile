# mmseg_sam_wsss — set-up, tests and the main jobs. Every target runs in $(VENV).
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PYTHON ?= python3
STAMP := $(VENV)/.mmseg_sam_wsss-setup
PYTEST_ARGS ?=
# pytest-xdist workers for make test (0 = in one process); one torch thread each on 2 cores
TEST_WORKERS ?= 2

.PHONY: setup test bench demo voc coco clean-venv help

help:
	@echo "make setup   create $(VENV) with the pinned OpenMMLab stack (mmcv built with ops)"
	@echo "make test    run the test suite (the README's test command)"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make demo    the whole method on a procedural shape dataset: CPU, no download, < 15 min"
	@echo "             (WEAK=point|scribble: SeSAM from weak labels instead, ROUNDS=2 by default)"
	@echo "             (SAM_CHECKPOINT=sam_vit_h.pth [SAM_MODEL_TYPE=vit_h] for real SAM masks)"
	@echo "             (SAM_ARGS='--points-per-side 32 --crop-n-layers 1 --amp bf16': options of"
	@echo "             tools/generate_sam_masks.py; SESAM_ARGS='...': of tools/sesam_pseudo_labels.py)"
	@echo "make voc     the same on a VOC layout: VOC_ROOT=... [SAM_CHECKPOINT=...] [WEAK=point|"
	@echo "             scribble|coarse] [QUICK=auto|0|1] [CAM=auto|train|DIR] [CAM_ITERS=] [SEG_ITERS=]"
	@echo "             [TRAIN_SPLIT=auto|train|trainaug] [MAX_IMAGES=N]"
	@echo "make coco    SEPL on MS-COCO 2014 (81 classes) after tools/convert_coco.py: COCO_ROOT=..."
	@echo "             [SAM_CHECKPOINT=...] [QUICK=...] [CAM=...] [MAX_IMAGES=N] [CAM_ITERS=] [SEG_ITERS=]"
	@echo "             (all three: WORK_DIR=, CAM_CFG_OPTIONS=/SEG_CFG_OPTIONS= 'key=value ...' for the configs)"

setup: $(STAMP)

# Idempotent: reruns only when a requirement file or the mmcv build script changes.
$(STAMP): requirements/runtime.txt requirements/build.txt requirements/tests.txt setup.py tools/setup/build_mmcv.sh
	@test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements/build.txt
	$(PY) -m pip install -q -r requirements/runtime.txt -r requirements/tests.txt
	@# mmengine 0.10.7 imports pkg_resources (removed in setuptools 70); torch 2.14 declares
	@# setuptools>=77 but needs it only to build extensions, so pip's conflict warning is expected.
	$(PY) -m pip install -q "setuptools<70" 2>&1 | grep -v "dependency conflicts\|setuptools>=77\|^ERROR: pip's dependency resolver" || true
	tools/setup/build_mmcv.sh $(PY)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import mmseg_sam_wsss, mmcv.ops; print('mmseg_sam_wsss', mmseg_sam_wsss.__version__, 'ready')"
	@touch $@

test: setup
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

bench: setup
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The main jobs: tools/run_pipeline.py calls every tool in turn and skips finished stages, so an
# interrupted run resumes. Without SAM_CHECKPOINT the masks come from the imperfect GT oracle
# (simulated SAM errors, NOT SAM) and every output says so.
SAM_CHECKPOINT ?=
SAM_MODEL_TYPE ?= vit_h
SAM_ARGS ?=
SESAM_ARGS ?=
VOC_ROOT ?= data/VOCdevkit/VOC2012
COCO_ROOT ?= data/coco2014
TRAIN_SPLIT ?= auto
MAX_IMAGES ?=
WEAK ?=
ROUNDS ?=
QUICK ?= auto
CAM ?= auto
CAM_ITERS ?=
SEG_ITERS ?=
CAM_CFG_OPTIONS ?=
SEG_CFG_OPTIONS ?=
WORK_DIR ?=
PIPELINE_ARGS = $(if $(SAM_CHECKPOINT),--sam-checkpoint $(SAM_CHECKPOINT) --sam-model-type $(SAM_MODEL_TYPE)) \
	$(if $(SAM_ARGS),'--sam-args=$(SAM_ARGS)') $(if $(SESAM_ARGS),'--sesam-args=$(SESAM_ARGS)') \
	$(if $(CAM_ITERS),--cam-iters $(CAM_ITERS)) $(if $(SEG_ITERS),--seg-iters $(SEG_ITERS)) \
	$(if $(CAM_CFG_OPTIONS),--cam-cfg-options $(CAM_CFG_OPTIONS)) \
	$(if $(SEG_CFG_OPTIONS),--seg-cfg-options $(SEG_CFG_OPTIONS)) $(if $(WORK_DIR),--work-dir $(WORK_DIR)) \
	$(if $(WEAK),--weak $(WEAK)) $(if $(ROUNDS),--rounds $(ROUNDS)) \
	$(if $(MAX_IMAGES),--max-images $(MAX_IMAGES))

demo: setup
	$(PY) tools/run_pipeline.py demo $(PIPELINE_ARGS)

voc: setup
	$(PY) tools/run_pipeline.py voc --data-root $(VOC_ROOT) --quick $(QUICK) --cam $(CAM) \
		--train-split $(TRAIN_SPLIT) $(PIPELINE_ARGS)

coco: setup
	$(PY) tools/run_pipeline.py coco --data-root $(COCO_ROOT) --quick $(QUICK) --cam $(CAM) \
		$(PIPELINE_ARGS)

clean-venv:
	rm -rf $(VENV)
