# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# The virtual environment is rebuilt only when pyproject.toml changes, so re-running
# either is quick.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test venv clean browser docs

demo: $(STAMP)
	$(VENV)/bin/bitsmith demo

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest -q

# Headless Chromium for the HTML report's browser tests (tests/report), from Debian's
# packages where apt-get runs as root; elsewhere those tests skip and say why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver) >/dev/null \
	  || echo "make browser: could not install chromium; the browser tests will skip"; \
	else echo "make browser: no chromium and no root apt-get; the browser tests will skip"; fi

venv: $(STAMP)

# The documentation site: the reference pages regenerated from the code, then built
# strictly (any warning, a broken link included, fails) into site/.
docs: $(STAMP)
	$(VENV)/bin/python -m bitsmith.docs_gen
	$(VENV)/bin/mkdocs build --strict

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	# CPU build of torch, pinned: an unpinned torch would pull several GB of CUDA wheels.
	$(VENV)/bin/python -m pip install -q torch==2.13.0
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV)
