# The two commands of the README: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# YAMNet for the demo: the copy beside the checkout when there is one (development machines),
# else from its publisher; without either, the demo runs the built-in detector and says so.
# Real recordings beside the checkout, when present, voice the simulated events.
YAMNET_SOURCE := $(if $(wildcard ../shared/models/yamnet.tflite),--from-file ../shared/models/yamnet.tflite,)
DEMO_AUDIO := $(if $(wildcard ../shared/audio/labels.csv),--audio-dir ../shared/audio,)
DEMO_ARGS ?=

demo: $(VENV)/.installed
	-$(BIN)/ouie models pull yamnet $(YAMNET_SOURCE)
	$(BIN)/ouie demo $(DEMO_AUDIO) $(DEMO_ARGS)

system-deps:
	bash scripts/system-deps.sh

test: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check ouie tests bench
	$(BIN)/ruff format --check ouie tests bench
	$(BIN)/mypy ouie
	$(BIN)/lint-imports
