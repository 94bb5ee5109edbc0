# The two commands that matter on a fresh machine:
#   make demo   set up (virtualenv, default model pack) and run the main job
#   make test   set up (plus the Debian packages the tests need) and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test setup models system-deps

demo: setup models system-deps
	$(BIN)/skynet demo

test: setup models system-deps
	$(BIN)/python -m pytest -ra

setup: $(BIN)/skynet

$(BIN)/skynet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $@

models: setup
	$(BIN)/skynet models install

system-deps:
	scripts/install-system-deps.sh
