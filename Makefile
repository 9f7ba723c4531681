# Thin wrappers over `python -m hw7 <command>` and pytest; see README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: report test bench preview data results

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

report: $(STAMP)   ## render the book: Quarto if installed, else the project's own render path
	$(PY) -m hw7 report

test: $(STAMP)     ## the test suite (includes rendering the book from the stored results)
	$(PY) -m pytest

bench: $(STAMP)    ## speed benchmarks (prints ratios; not part of the tests)
	$(PY) -m hw7bench

preview: $(STAMP)  ## live preview: quarto preview, else re-render on save and serve _book/
	$(PY) -m hw7 preview

data: $(STAMP)     ## fetch and verify MNIST
	$(PY) -m hw7 data
