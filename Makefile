# Two entry points for a fresh machine: `make demo` (set up + the main job) and `make test`.
VENV ?= .venv
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

.PHONY: setup demo test bench lint
setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/qalqan demo

test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/decide.py
	$(VENV)/bin/python bench/http.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
