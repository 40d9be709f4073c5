# make demo: set up and watch takeover take over a misbehaving agent
# make test: set up and run the whole test suite (what CI runs), in two pytest-xdist workers
# make test-fast: the tests not marked slow, without PostgreSQL (about 45 s): after each edit
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-fast setup bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[server,test]'
	touch $@

setup: $(VENV)/.installed
	./scripts/ensure-prometheus
	./scripts/ensure-alertmanager
	./scripts/ensure-chromium

demo: setup
	$(VENV)/bin/takeover demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	env -u TAKEOVER_TEST_DATABASE_URL $(PY) -m pytest -n 2 -m "not slow"

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache takeover.db
