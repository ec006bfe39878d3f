# netmeter: every target sets up its own .venv from pyproject.toml's pinned versions.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup stubs services test demo bench bench-fleet fuzz lint format clean deploy

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

# Each port's published stubs (pinned in pyproject.toml), for the port API check in make test.
stubs: .stubs/.installed

.stubs/.installed: pyproject.toml $(STAMP)
	$(BIN)/python tests/portcheck.py install
	touch $@

# The fleet tests start their own Mosquitto and PostgreSQL (initdb/pg_ctl of PostgreSQL 15).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
services:
	@command -v mosquitto >/dev/null || test -x /usr/sbin/mosquitto || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y mosquitto; }
	@test -x /usr/lib/postgresql/15/bin/initdb || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y postgresql-15; }

test: lint stubs services
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python -m host demo

# Bad input at volume: 100,000 generated link frames against the firmware in the VM and the
# whole config-file corpus through `host config validate` (a subset runs in make test).
fuzz: $(STAMP)
	$(BIN)/python tests/fuzzlink.py --frames 100000 --configs

bench: $(STAMP)
	@for b in bench/bench_*.py; do test $$b = bench/bench_fleet.py && continue; \
		echo "== $$b"; $(BIN)/python $$b || exit 1; done

# 1,000 devices x 2,880 records through Mosquitto into PostgreSQL (docs/fleet.md): minutes.
bench-fleet: $(STAMP) services
	$(BIN)/python bench/bench_fleet.py

deploy: $(STAMP)
	@test -n "$(BOARD)" || { echo "usage: make deploy PORT=/dev/ttyACM0 BOARD=rp2_pico (CircuitPython: BOARD=feather_rp2040_cp [DRIVE=path])"; exit 2; }
	$(BIN)/python -m host deploy --board $(BOARD) $(if $(PORT),--device $(PORT)) $(if $(DRIVE),--drive $(DRIVE))

clean:
	rm -rf $(VENV) .stubs .pytest_cache build *.egg-info
