# gochat: `make run` starts the app, `make test` runs every check. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run server test coverage lint typecheck clean bench desktop-deps

# What Qt's X11 (xcb) platform needs on Debian/Ubuntu; the app names any that is missing.
DESKTOP_APT_PACKAGES := libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 \
	libxcb-randr0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

# The desktop app; `make server` runs the headless server instead.
run: $(VENV)/.installed
	$(PY) -m gochat.desktop

desktop-deps:
	sudo apt install -y $(DESKTOP_APT_PACKAGES)

server: $(VENV)/.installed
	$(PY) -m gochat.server

# Dead code: what vulture checks (its settings: pyproject.toml, [tool.vulture]). The whitelist
# names what only a framework calls (Qt virtuals, FastAPI models, uvicorn); code nothing calls
# is deleted instead.
VULTURE_PATHS := gochat bench vulture_whitelist.py

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/vulture $(VULTURE_PATHS)

# GOCHAT_TEST_TIMEOUT_FACTOR=3 make test on a slow machine: every wait in the tests is scaled.
# The suite runs on TEST_WORKERS processes (pytest-xdist): more than the cores, because much of a
# test's time is spent waiting on a server, a socket, a subprocess or an X server. TEST_WORKERS=0
# runs it in this one process. worksteal: a worker that runs out takes tests queued for another,
# so one long test at the end of a queue does not leave the other workers idle.
TEST_WORKERS ?= 4

test: lint
	QT_QPA_PLATFORM=offscreen PYTHONASYNCIODEBUG=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

# The tests under coverage.py (slower than `make test`): line coverage of the package.
coverage: $(VENV)/.installed-test
	QT_QPA_PLATFORM=offscreen PYTHONASYNCIODEBUG=1 $(PY) -m pytest --cov=gochat --cov-report=term

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

# Benchmarks against a raw websockets reference, in the same run (see README, Performance).
bench: $(VENV)/.installed-test
	$(PY) -m bench $(BENCH_ARGS)
