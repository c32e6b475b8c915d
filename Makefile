# One command each, on a fresh machine: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORE := $(VENV)/.core
# torch must be named in the same pip command as anything that depends on it (torchvision
# included), or pip may swap in another build; constraints-dev.txt pins the pair for dev and CI.
INSTALL := $(PY) -m pip install -q --disable-pip-version-check -c constraints-dev.txt

.PHONY: demo test lint docs install clean

# The demo needs only the core dependencies (numpy, scikit-learn, pandas, typer, rich).
$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(INSTALL) --upgrade pip
	$(INSTALL) -e .
	touch $(CORE)

# The tests need the extras and the oracle (cleanlab), with torch and torchvision pinned as a
# pair (fastai.vision and timm need torchvision); `fused` (ninja) builds ELR's C++ kernel, which
# CI must test (a C++ compiler is also needed).
$(STAMP): $(CORE) constraints-dev.txt
	$(INSTALL) "torch==2.14.1" "torchvision==0.29.1" -e ".[dev,torch,fastai,fused,vision]"
	touch $(STAMP)

install: $(STAMP)

demo: $(CORE)
	$(PY) -m mislabel.demo

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m mypy
	$(PY) -m pytest -n 2 -q
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d $(VENV)/site

# The documentation site (mkdocs.yml), served with live reload at http://127.0.0.1:8000.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
