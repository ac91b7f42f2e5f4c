# Every target bootstraps what it needs: uv, then the locked environment.
PYTHON ?= python3
UV := $(PYTHON) -m uv
PYTEST_ARGS ?=

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

# The whole suite: lint, types, then every test on SQLite and PostgreSQL.
test: lint typecheck
	$(UV) run --locked pytest $(PYTEST_ARGS)

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
