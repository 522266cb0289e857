# One command to serve, one to test. Both build the virtualenv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint fmt migrate openapi keygen bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

migrate: $(VENV)/.installed
	$(BIN)/alembic upgrade head

# `alerts serve` checks the configuration first (a bad value is one line
# naming its key), applies the migrations, and points notification links at
# this HOST:PORT unless ALERTS_PUBLIC_URL says otherwise.
run: $(VENV)/.installed
	$(BIN)/alerts serve --migrate --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(VENV)/.installed
	$(BIN)/python -m app.openapi > openapi/openapi.json

# A new API key and the hash to configure; NAME=... and SCOPES="read alerts:manage" are optional.
NAME ?= my-service
SCOPES ?= alerts:write
keygen: $(VENV)/.installed
	@$(BIN)/python -m app.keys --name "$(NAME)" $(foreach s,$(SCOPES),--scope $(s))

# The performance suite (bench/README.md): needs wrk and PostgreSQL's server
# binaries (Debian: wrk, postgresql); installs wrk when run as root.
bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } || { echo "install wrk first"; exit 1; }
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) alerts.db alerts.db-shm alerts.db-wal
