# PG-GCN: raw video -> action labels. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# No value from the command line or the environment ever reaches make's own expansion. make would expand
# one wherever the Makefile reads it as $(NAME), and it expands every command-line variable when it exports
# it to a recipe's environment (`make eval 'CONFIG=$(shell touch x)'` ran the command although the tool got
# the literal text). So, before anything else, every command-line variable (whatever its name: also one
# this Makefile does not use, e.g. PGGCN_DEBUG=1) and every variable of the environment that this Makefile
# reads becomes a simple variable holding its literal text, still exported to the recipes as that text.
# (`NAME:=value` on the command line, or a `$` in a command-line variable's NAME, is expanded by make while
# it reads its arguments, before any Makefile runs: write NAME=value.)
USER_VARS := VENV DATASET DATA_ROOT OUT POSE WORKERS SHARD POSE_CONFIG POSE_CHECKPOINT KEEP_PARTS ANN_FILE \
             WORK_DIR LOAD_FROM RESTART CONFIG CHECKPOINT NPROC NNODES NODE_RANK MASTER_ADDR MASTER_PORT SEEDS N \
             GMDCSA_ROOT VARIANTS LEVERS JOBS MINUTES
MAKE_OWN_VARS := MAKEFLAGS MAKEOVERRIDES MFLAGS MAKELEVEL MAKEFILES MAKECMDGOALS SHELL .SHELLFLAGS
literal_var = $(eval override $1 := $$(value $1))$(eval export $1)
$(foreach v,$(filter-out $(MAKE_OWN_VARS),$(.VARIABLES)),$(if $(or $(filter command%,$(origin $v)),$(and \
  $(filter environment%,$(origin $v)),$(filter $v,$(USER_VARS)))),$(call literal_var,$v)))

# Every variable reaches the shell through $(call q,NAME): single-quoted, and taken as literal text when it
# comes from the command line or the environment, so a path with spaces works and `;`, backticks or $( )
# in a value are characters of that value, never commands (for make or for the shell).
lit = $(if $(filter command% environment%,$(origin $1)),$(value $1),$($1))
q = '$(subst ','\'',$(call lit,$1))'

VENV    ?= .venv
PY       = $(call q,VENV)/bin/python
STAMP   := $(call lit,VENV)/.setup-stamp
MMPOSE_STAMP := $(call lit,VENV)/.mmpose-stamp
TEST_STAMP := $(call lit,VENV)/.test-stamp
PIP      = $(PY) -m pip install -q --disable-pip-version-check

# extraction
DATASET   ?= ntu120
DATA_ROOT ?= data/nturgb+d
OUT       ?= data/$(call lit,DATASET)
POSE      ?= mediapipe
WORKERS   ?= 2
SHARD     ?=
POSE_CONFIG ?=
POSE_CHECKPOINT ?=
KEEP_PARTS ?=
ANN_FILE   ?=
WORK_DIR   ?=
LOAD_FROM  ?=
RESTART    ?=
# training / evaluation
CONFIG     ?= configs/pggcn_ntu120_xsub.py
CHECKPOINT ?=
ANN_FILE   ?=
WORK_DIR   ?=
LOAD_FROM  ?=
NPROC      ?= 1
NNODES     ?= 1
NODE_RANK  ?= 0
MASTER_ADDR ?= 127.0.0.1
MASTER_PORT ?= 29500
# benchmarks
SEEDS    ?= 1
N        ?= 114480
GMDCSA_ROOT ?= ../shared/data/gmdcsa24
VARIANTS ?=
LEVERS   ?=
JOBS     ?= 1

.PHONY: help setup setup-mmpose test extract train eval demo \
        bench-model bench-extract bench-train bench-infer bench-accuracy bench-scale bench-gmdcsa bench-timeline bench-actions check-mmaction2-export clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 18

setup: $(STAMP) ## create .venv and install the pinned stack (idempotent)

# The stamp is newer than pyproject.toml once everything it pins is installed; a second
# `make setup` then does nothing. torch goes first so pip takes the CPU build.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(call q,VENV)
	$(PIP) "$$(python3 tools/pins.py torch)"
	$(PIP) -e .
	$(PIP) --no-deps $$(python3 tools/pins.py --no-deps)
	$(PY) -c "import torch, numpy, cv2, decord, mmengine, mediapipe; print('setup ok: torch', torch.__version__, 'numpy', numpy.__version__, 'mediapipe', mediapipe.__version__)"
	@touch $@

setup-mmpose: $(MMPOSE_STAMP) ## optional: add the mmpose backend (POSE=mmpose) to .venv (idempotent)

# mmpose, mmcv-lite and mmdet go in --no-deps (their declared deps pull full mmcv, opencv-python and
# torchvision, none of which work here); xtcocotools is built against our numpy 2. Pins: pyproject.toml.
$(MMPOSE_STAMP): $(STAMP) pyproject.toml
	$(PIP) $$(python3 tools/pins.py --extra mmpose)
	$(PIP) --no-deps $$(python3 tools/pins.py --extra mmpose --no-deps)
	$(PIP) --no-binary xtcocotools --no-build-isolation $$(python3 tools/pins.py --extra mmpose --from-source)
	$(PY) -c "from extract.mmpose_compat import install_placeholders as p; p(); import mmpose.apis, mmpose; print('setup-mmpose ok: mmpose', mmpose.__version__)"
	@touch $@

# The suite covers the optional mmpose backend too, so `make test` installs that extra first.
test: $(STAMP) $(MMPOSE_STAMP) $(TEST_STAMP) ## run the whole test suite
	$(PY) -m pytest -q

# pytest is the `test` extra: what the suite needs beyond the runtime.
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(PIP) $$(python3 tools/pins.py --extra test)
	@touch $@

extract: $(STAMP) $(if $(filter mmpose,$(call lit,POSE)),$(MMPOSE_STAMP)) ## build $(OUT)/annotations.pkl from DATA_ROOT (DATASET=ntu60|ntu120|videos, POSE=mediapipe|mmpose|none)
	$(PY) tools/extract_dataset.py --dataset $(call q,DATASET) --data-root $(call q,DATA_ROOT) --out $(call q,OUT) \
	  --pose $(call q,POSE) --workers $(call q,WORKERS) $(if $(call lit,SHARD),--shard $(call q,SHARD)) \
	  $(if $(call lit,POSE_CONFIG),--pose-config $(call q,POSE_CONFIG)) \
	  $(if $(call lit,POSE_CHECKPOINT),--pose-checkpoint $(call q,POSE_CHECKPOINT)) \
	  $(if $(filter 1 yes true,$(call lit,KEEP_PARTS)),--keep-parts)

# ANN_FILE and WORK_DIR override the config's annotation file and output folder, for any config.
RUN_OPTS = $(if $(call lit,ANN_FILE),--ann-file $(call q,ANN_FILE)) $(if $(call lit,WORK_DIR),--work-dir $(call q,WORK_DIR))
TRAIN_OPTS = $(RUN_OPTS) $(if $(call lit,LOAD_FROM),--load-from $(call q,LOAD_FROM)) \
  $(if $(filter 1 yes true,$(call lit,RESTART)),--restart)

train: $(STAMP) ## train CONFIG [ANN_FILE= WORK_DIR= LOAD_FROM= RESTART=1] (NPROC>1 or NNODES>1: torchrun/DDP); resumes the same run
ifeq ($(call lit,NPROC)$(call lit,NNODES),11)
	$(PY) tools/train.py $(call q,CONFIG) $(TRAIN_OPTS)
else
	$(call q,VENV)/bin/torchrun --nproc_per_node=$(call q,NPROC) --nnodes=$(call q,NNODES) \
	  --node_rank=$(call q,NODE_RANK) --master_addr=$(call q,MASTER_ADDR) --master_port=$(call q,MASTER_PORT) \
	  tools/train.py $(call q,CONFIG) $(TRAIN_OPTS) --launcher pytorch
endif

eval: $(STAMP) ## evaluate CHECKPOINT (default: the run's best) on CONFIG's test split [ANN_FILE= WORK_DIR=]
	$(PY) tools/test.py $(call q,CONFIG) $(if $(call lit,CHECKPOINT),--checkpoint $(call q,CHECKPOINT)) $(RUN_OPTS)

demo: $(STAMP) ## the whole pipeline on the shipped real data, offline, on CPU -> work_dirs/demo/
	$(PY) tools/demo.py --out work_dirs/demo

bench-model: $(STAMP) ## PG-GCN vs mmaction2 ST-GCN, train/infer samples/s -> bench/results/model.json
	$(PY) -m bench.bench_model

bench-scale: $(STAMP) ## NTU-120 at N files (default 114480): extraction, store, open, DDP memory, loader -> bench/results/scale.json
	$(PY) -m bench.bench_scale --n $(call q,N)

bench-gmdcsa: $(STAMP) ## your-own-videos path on GMDCSA24 (fall vs ADL), leave one subject out -> bench/results/gmdcsa.json
	$(PY) -m bench.bench_gmdcsa --root $(call q,GMDCSA_ROOT)

bench-actions: $(STAMP) ## what the default model (and CHECKPOINT beside it) calls GMDCSA24's time-stamped activities -> bench/results/actions.json
	$(PY) -m bench.bench_actions --root $(call q,GMDCSA_ROOT) $(if $(call lit,CHECKPOINT),--checkpoints $(call q,CHECKPOINT))

bench-timeline: $(STAMP) ## per-person timelines vs GMDCSA24's time-stamped ground truth (after bench-gmdcsa) -> bench/results/timeline.json
	$(PY) -m bench.bench_timeline $(call q,GMDCSA_ROOT)

check-mmaction2-export: $(STAMP) ## our 2D pose exported by tools/convert.py loads in mmaction2's PoseDataset (peer venv)
	$(PY) -m bench.check_mmaction2_export

bench-extract: $(STAMP) ## decode / pose / full extraction frames/s -> bench/results/extract.json
	$(PY) -m bench.bench_extract

bench-train: $(STAMP) ## loader+model vs model-only samples/s -> bench/results/train.json
	$(PY) -m bench.bench_train

bench-infer: $(STAMP) ## infer_video.py speed, following people (+ GMDCSA_ROOT if there), live latency -> bench/results/infer.json
	GMDCSA_ROOT=$(call q,GMDCSA_ROOT) $(PY) -m bench.bench_infer

bench-accuracy: $(STAMP) ## NW-UCLA top-1 of PG-GCN, ablations and levers over SEEDS seeds [VARIANTS= LEVERS= JOBS=] -> bench/results/accuracy.json
	$(PY) -m bench.bench_accuracy --seeds $(call q,SEEDS) --jobs $(call q,JOBS) \
	  $(if $(call lit,VARIANTS),--variants $(filter pggcn no_pose no_pgam,$(call lit,VARIANTS))) \
	  $(if $(call lit,LEVERS),--levers $(filter epochs_65 skateformer_drops bone_velocity_streams wider_blocks video_recipe ensemble_jvb_bv clip_32_epochs_50 ensemble_2x_clip_32_epochs_50 tta_5_clips tta_10_clips seed_ensemble,$(call lit,LEVERS))) \
	  $(if $(call lit,MINUTES),--minutes $(call q,MINUTES))

clean: ## remove work_dirs/ and caches (keeps .venv)
	rm -rf work_dirs .pytest_cache
