# Two entry points for a fresh machine: `make demo` (set up + the main job) and `make test`.
VENV ?= .venv
PYTHON ?= python3
CHROMIUM ?= /usr/bin/chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

.PHONY: setup demo test bench lint
setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/qalqan demo

test: $(VENV)/.installed $(CHROMIUM)
	-@bash scripts/services.sh
	$(VENV)/bin/python -m pytest

# The reports' browser test draws the HTML report in headless Chromium (Debian's package); without it
# that test is skipped with a message.
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| echo "could not install chromium (not root? no network?): the HTML report's browser test will be skipped"

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/decide.py
	$(VENV)/bin/python bench/http.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests bench
