# Every target bootstraps what it needs: uv, then the locked environment.
PYTHON ?= python3
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=
BROWSER_PYTEST_ARGS ?=

.PHONY: install demo test lint typecheck unit bench-small bench

.venv/.synced: pyproject.toml uv.lock
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --locked
	touch $@

install: .venv/.synced

demo: install
	$(UV) run --locked makegood demo

lint: install
	$(UV) run --locked ruff check src tests bench
	$(UV) run --locked ruff format --check src tests bench

typecheck: install
	$(UV) run --locked mypy

# The whole suite: lint, types, every test on SQLite and PostgreSQL, then the claim
# page in Chromium, in a pytest process of its own (the Playwright driver keeps an
# event loop running that later asyncio tests would trip over). Either part failing
# fails the target; so does a part that runs no test (pytest exits 5).
test: lint typecheck
	$(UV) run --locked pytest --ignore=tests/browser $(PYTEST_ARGS)
	$(UV) run --locked pytest tests/browser $(BROWSER_PYTEST_ARGS) || { status=$$?; \
	  [ $$status -ne 5 ] || echo "tests/browser: no browser test ran"; exit $$status; }

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
