# Every target bootstraps what it needs: uv, then the locked environment (compiled to
# bytecode at install, so each `makegood` process starts without compiling its libraries).
PYTHON ?= python3
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=
# The main suite on four pytest-xdist workers, each test file kept on one worker in the
# order collected. Most tests wait on servers and child processes rather than the CPU, so
# four workers on two cores finish in 4 minutes where two took 9; `make test PYTEST_XDIST=`
# runs it in one process.
PYTEST_XDIST ?= -n 4 --dist loadfile --no-loadscope-reorder
BROWSER_PYTEST_ARGS ?=

.PHONY: install install-tool system-packages demo test test-cluster lint typecheck unit bench-small bench chaos

.venv/.synced: pyproject.toml uv.lock
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --locked --compile-bytecode --extra spark
	touch $@

install: .venv/.synced

# A `makegood` command for any directory: uv installs it as a tool in its own
# environment, with the locked versions, and links it into uv's bin directory
# (~/.local/bin unless UV_TOOL_BIN_DIR says otherwise).
install-tool: install
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --quiet -o .venv/tool-constraints.txt
	$(UV) tool install --force --compile-bytecode --constraints .venv/tool-constraints.txt .

# What the tests need from the system (Chromium, fonts): installed with apt-get when
# missing and run as root; otherwise the script names the packages and stops.
system-packages:
	./scripts/system-packages

demo: install
	$(UV) run --locked makegood demo

lint: install
	$(UV) run --locked ruff check src tests bench chaos
	$(UV) run --locked ruff format --check src tests bench chaos
	$(UV) run --locked lint-imports

typecheck: install
	$(UV) run --locked mypy

# The whole suite: lint, types, every test on SQLite and PostgreSQL, then the claim
# page in Chromium, in a pytest process of its own (the Playwright driver keeps an
# event loop running that later asyncio tests would trip over). Either part failing
# fails the target; so does a part that runs no test (pytest exits 5).
test: system-packages lint typecheck
	$(UV) run --locked pytest $(PYTEST_XDIST) --ignore=tests/browser -m "not cluster" $(PYTEST_ARGS)
	$(UV) run --locked pytest tests/browser $(BROWSER_PYTEST_ARGS) || { status=$$?; \
	  [ $$status -ne 5 ] || echo "tests/browser: no browser test ran"; exit $$status; }

# impact run against a Spark standalone master, a worker and Spark Connect, all started
# by scripts/spark-standalone: two minutes of a machine's cores, so not in `make test`.
test-cluster: system-packages install
	$(UV) run --locked pytest -m cluster tests/e2e/test_spark_cluster.py $(PYTEST_ARGS)

# Proof under faults (docs/reliability.md): processes killed at random points, the
# database restarted, bad relays, fuzzed input, long load and security checks, each
# writing its figures to chaos/results/. About 90 minutes; not part of `make test`.
# `make chaos CHAOS_ARGS=--quick` is the short seeded version. Every script runs; the
# target fails if any promise broke.
CHAOS_ARGS ?=
CHAOS = relays kills database fuzz security load
chaos: system-packages install
	@failed=""; for script in $(CHAOS); do \
	  echo "== chaos/$$script.py $(CHAOS_ARGS)"; \
	  $(UV) run --locked python chaos/$$script.py $(CHAOS_ARGS) || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "chaos: promises broken in:$$failed"; exit 1; fi

unit: install
	$(UV) run --locked pytest tests/unit $(PYTEST_ARGS)

bench-small: install
	$(UV) run --locked python bench/impact_bench.py --customers 100000 --events 1000000

bench: install
	$(UV) run --locked python bench/impact_bench.py --customers 1000000 --events 10000000
	$(UV) run --locked python bench/impact_bench.py --customers 10000000 --events 100000000
	$(UV) run --locked python bench/campaign_bench.py --customers 1000000 --mode automatic
	$(UV) run --locked python bench/campaign_bench.py --customers 1000000 --mode claim
	$(UV) run --locked python bench/send_bench.py --messages 20000 --mode automatic
	$(UV) run --locked python bench/send_bench.py --messages 20000 --mode claim
