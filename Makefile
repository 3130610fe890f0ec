# One-command entry points. Every target that needs Python depends on `env`, so each works on
# a fresh clone. Data: set TICKETS_DATA to a CIFAR-10 location (see README); default data/.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := tickets
PROFILE ?= cpu
NOTEBOOKS ?=
PARAMS ?=
export TICKETS_STORE ?= $(CURDIR)/runs

.PHONY: env test test-fast report lab bench screenshot lint clean wheelhouse device-data gpu-collect

env: $(STAMP)

$(STAMP): pyproject.toml requirements-lock.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-lock.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (tickets)" >/dev/null
	@touch $(STAMP)

# Unit tests, then every notebook executed at its smoke defaults and validated by nbval.
test: env
	rm -rf .test-store
	TICKETS_STORE=$(CURDIR)/.test-store $(PY) -m pytest tests $(if $(wildcard notebooks/*.ipynb),--nbval-lax notebooks,) -p no:cacheprovider

# The unit tests without the slower ones and without the notebooks.
test-fast: env
	$(PY) -m pytest tests -m "not slow" -q

report: env
	$(PY) -m tickets.report --profile $(PROFILE) $(if $(NOTEBOOKS),--notebooks $(NOTEBOOKS),) $(foreach p,$(PARAMS),--param '$(p)')

lab: env
	$(VENV)/bin/jupyter lab notebooks

bench: env
	$(PY) -m tickets.bench --levers --out bench/bench-$$(hostname -s 2>/dev/null || echo local).json

# Renders the report's index and one study page in headless Chromium to PNGs under
# reports/$(PROFILE)/screenshots/ (needs Debian's chromium package).
screenshot: env
	$(PY) -m tickets.report --profile $(PROFILE) --screenshot-only

# A lent GPU machine (docs/gpu.md, "Running the report in calls"): its wheels, its data,
# and the report built here from what a call brought back.
wheelhouse:
	device/wheelhouse.sh

device-data:
	@case "$(TICKETS_DATA)" in *.tar.gz) ;; *) echo "set TICKETS_DATA to the CIFAR-10 .tar.gz" >&2; exit 1;; esac
	mkdir -p .data && cp "$(TICKETS_DATA)" .data/cifar10-jpeg.tar.gz

gpu-collect: env
	@test -n "$(FILES)" || { echo "usage: make gpu-collect FILES=<folder holding state.tar.gz>" >&2; exit 1; }
	$(PY) -m tickets.devicerun collect --profile gpu --files "$(FILES)"

lint: env
	$(VENV)/bin/ruff check tickets tests

clean:
	rm -rf $(VENV) .test-store .pytest_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
