# netmeter: every target sets up its own .venv from pyproject.toml's pinned versions.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test demo bench bench-fleet services lint format clean deploy

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("netmeter needs Python 3.11+, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The fleet tests start their own Mosquitto and PostgreSQL (initdb/pg_ctl of PostgreSQL 15).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
services:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y mosquitto; }
	@test -x /usr/lib/postgresql/15/bin/initdb || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y postgresql-15; }

test: lint services
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python -m host demo

bench: $(STAMP)
	@for b in bench/bench_*.py; do test $$b = bench/bench_fleet.py && continue; \
		echo "== $$b"; $(BIN)/python $$b || exit 1; done

# 1,000 devices x 2,880 records through Mosquitto into PostgreSQL (docs/fleet.md): minutes.
bench-fleet: $(STAMP) services
	$(BIN)/python bench/bench_fleet.py

deploy: $(STAMP)
	@test -n "$(PORT)" -a -n "$(BOARD)" || { echo "usage: make deploy PORT=/dev/ttyACM0 BOARD=rp2_pico"; exit 2; }
	$(BIN)/python -m host deploy --device $(PORT) --board $(BOARD)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
