# The two commands a newcomer needs:  make demo  and  make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench bench-quick install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## Runs the demo: the Kingdee simulator and the Dagster UI (embedded SQLite target by default).
demo: $(STAMP)
	$(PY) -m kd_assets.demo

## Runs the whole test suite against the real MariaDB server (started if it is down);
## installs Debian's chromium for the browser test if it is missing.
test: $(STAMP)
	scripts/ensure-mariadb.sh
	scripts/ensure-chromium.sh
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	scripts/ensure-mariadb.sh
	$(PY) -m bench

bench-quick: $(STAMP)
	scripts/ensure-mariadb.sh
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache
