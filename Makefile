# Two commands: `make demo` and `make test`. Each one builds .venv idempotently first.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSSTAMP := .venv/.system-packages

.PHONY: demo test lint clean system venv board

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

# The emulated arm64 board for the `arm` tests: built once (~2 min: arm64 .debs fetched by apt and unpacked,
# aarch64 wheels installed by the host's pip; ~0.5 GB, cached in ~/.cache/lutnas/boards), then a no-op.
# Without root or network it is skipped, and so are the arm tests (with the reason).
board: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && ! { command -v qemu-aarch64-static && command -v update-binfmts && test -f /usr/share/keyrings/debian-archive-keyring.gpg; } >/dev/null 2>&1; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static binfmt-support debian-archive-keyring || true; \
	fi
	-@$(VENV)/bin/lutnas board build arm64 || echo "arm64 board not prepared: the arm tests will be skipped"

# Two workers, whole files each (module fixtures are built once): while one worker compiles, the other
# times or waits on a subprocess. Timed measurements never overlap: every one holds the machine's
# timing lock (lutnas.profiler.timing_lock), across the workers too. TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: $(STAMP) board
	$(VENV)/bin/python -m pytest -q -ra $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

lint: $(STAMP)
	$(VENV)/bin/ruff check lutnas tests bench

clean:
	rm -rf $(VENV) build *.egg-info
