# make demo: inference profile only (ONNX Runtime, no PyTorch) + a prediction on the demo photo.
# make test: the train profile + dev tools, ruff, and the whole test suite. CI runs this.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: test demo lint clean

test: $(VENV)/.train-installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto --maxprocesses 4

demo: $(VENV)/.inference-installed
	$(BIN)/python predict.py photos/astronaut.png --show-all

lint: $(VENV)/.train-installed
	$(BIN)/ruff check .

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.inference-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.train-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[train,video,serve,ray,dev]'
	touch $@ $(VENV)/.inference-installed

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
