# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# The virtual environment is rebuilt only when pyproject.toml changes, so re-running
# either is quick.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean

demo: $(STAMP)
	$(VENV)/bin/bitsmith demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	# CPU build of torch, pinned: an unpinned torch would pull several GB of CUDA wheels.
	$(VENV)/bin/python -m pip install -q torch==2.13.0
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV)
