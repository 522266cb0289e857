# One command to serve, one to test. Both build the virtualenv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint fmt lock migrate openapi keygen bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Dependencies come from the lock files, every file checked against its hash;
# the app itself goes on top without resolving anything (--no-deps). A changed
# lock (`make lock`, a pull) reinstalls on the next run.
# A dependency added to pyproject.toml but not to the locks stops here.
LOCK_CHECK = @$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
	echo "the locks lack a dependency of pyproject.toml: run make lock" >&2; exit 1; }
$(VENV)/.installed: requirements.lock pyproject.toml $(BIN)/activate
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(LOCK_CHECK)
	touch $@

# The dev lock holds the runtime pins (compiled against requirements.lock) and
# the dev extra, so installing it also satisfies the runtime marker.
$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml $(BIN)/activate
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(LOCK_CHECK)
	touch $@ $(VENV)/.installed

# Re-resolve both locks from pyproject.toml after its dependencies change:
# current pins are kept where they still fit. `make lock UPGRADE=1` moves every
# pin to the newest release allowed. --universal: one lock for every platform
# and Python >= 3.11 (markers, and the hashes of every wheel of a pin).
UPGRADE ?=
LOCK_FLAGS := --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
# Only uv is needed: the installs above stop while the locks lag pyproject.toml.
lock: $(BIN)/activate
	test -x $(BIN)/uv || $(BIN)/pip install --quiet "uv>=0.5"
	$(BIN)/uv pip compile $(LOCK_FLAGS) pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile $(LOCK_FLAGS) --extra dev -c requirements.lock pyproject.toml -o requirements-dev.lock

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
