# The two commands that matter on a fresh machine:
#   make demo   set up (virtualenv, default model pack), create the first admin if there is none
#               (its API token is printed once) and run the service with the demo camera
#   make test   set up (plus the Debian packages the tests need) and run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test setup models system-deps

demo: setup models system-deps
	@$(BIN)/skynet users list | grep -q . || $(BIN)/skynet users create-admin admin
	$(BIN)/skynet serve

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
