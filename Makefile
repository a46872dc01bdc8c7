# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: demo test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The analyzer alone: typer, rich, pyyaml. No torch.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

# Tests need the torch extra (CPU build pinned: it installs from local disk) and the dev tools.
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,torch,train]"
	touch $@ $(VENV)/.core

demo: $(VENV)/.core
	$(BIN)/cnnspec analyze specs/vgg16.yaml

# The docs' tables and the specs' published figures are checked like code.
test: $(VENV)/.dev
	$(BIN)/python -m pytest
	$(BIN)/cnnspec check specs/ README.md $(wildcard docs)

bench: $(VENV)/.dev
	$(BIN)/python bench/analyze_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
