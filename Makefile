# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0

.PHONY: demo test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The analyzer alone: typer, rich, pyyaml. No torch. Byte-compiled as a wheel install is, so that
# start-up does not recompile the sources where PYTHONDONTWRITEBYTECODE is set.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q cnnspec
	touch $@

# Tests need the torch extra (CPU build pinned: it installs from local disk) and the dev tools.
$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,torch,train]"
	$(BIN)/python -m compileall -q cnnspec
	touch $@ $(VENV)/.core

demo: $(VENV)/.core
	$(BIN)/cnnspec analyze vgg16

# The docs' tables and the specs' published figures are checked like code.
test: $(VENV)/.dev
	$(BIN)/python -m pytest
	$(BIN)/cnnspec check specs/ README.md $(wildcard docs)

# docs/layers.md from the layer registry, and the README's pictures, drawn from the specs (graphs need
# Graphviz's dot: apt-get install graphviz).
DOCS_SPECS := vgg16 resnet50 googlenet unet
IMAGES     := docs/images
docs: $(VENV)/.dev
	$(BIN)/cnnspec layers --format md -o docs/layers.md
	@mkdir -p $(IMAGES)
	for spec in $(DOCS_SPECS); do \
	  $(BIN)/cnnspec plot $$spec -o $(IMAGES)/$$spec-layers.png && \
	  $(BIN)/cnnspec graph $$spec --layout graphviz -o $(IMAGES)/$$spec-graph.svg || exit 1; \
	done
	$(BIN)/cnnspec graph resnet50 --depth 1 -o $(IMAGES)/resnet50-graph-depth1.png
	$(BIN)/cnnspec graph unet --depth 0 -o $(IMAGES)/unet-graph-depth0.png
	$(BIN)/cnnspec graph inception3a -o $(IMAGES)/inception3a-graph.png
	$(BIN)/cnnspec plot resnet50 --input 3x160x160,3x224x224,3x320x320,3x448x448 -o $(IMAGES)/resnet50-sweep.png
	$(BIN)/cnnspec plot vgg16 resnet50 --by block --log -o $(IMAGES)/vgg16-vs-resnet50.png
	$(BIN)/cnnspec plot inception3a_naive inception3a -o $(IMAGES)/inception3a-vs-naive.png

bench: $(VENV)/.dev
	$(BIN)/python bench/analyze_speed.py
	$(BIN)/python bench/import_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
	find cnnspec tests bench -name __pycache__ -prune -exec rm -rf {} +
