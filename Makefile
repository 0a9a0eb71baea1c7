# Two commands: `make demo` and `make test`. Each one builds .venv idempotently first.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSSTAMP := .venv/.system-packages

.PHONY: demo test lint clean system venv

$(SYSSTAMP):
	@mkdir -p $(VENV)
	@if ! command -v aarch64-linux-gnu-g++ >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing the aarch64 cross compiler (Debian: g++-aarch64-linux-gnu)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc-aarch64-linux-gnu g++-aarch64-linux-gnu; \
	  else echo "warning: aarch64-linux-gnu-g++ missing and not root; arm64 lowering will report it"; fi; \
	fi
	@touch $@

system: $(SYSSTAMP)

$(STAMP): pyproject.toml | $(SYSSTAMP)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python -m lutnas.demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -ra

lint: $(STAMP)
	$(VENV)/bin/ruff check lutnas tests bench

clean:
	rm -rf $(VENV) build *.egg-info
