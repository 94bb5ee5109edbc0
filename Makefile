# The two commands that matter on a fresh machine:
#   make demo   set up (virtualenv, default model pack), create the first admin if there is none
#               (its API token is printed once) and run the service with the demo camera
#   make test   set up, check the code (make lint: fails fast), then (with the model pack and the Debian packages
#               the tests use) run the test suite on TEST_WORKERS pytest-xdist workers (each takes a whole test file
#               at a time; 0: in one process)
# Others: make lint (ruff format and lint, mypy; from the lock like everything else), make lock (refresh the lock
# files in requirements/).
# Every install comes from a lock file: exact versions, each file checked against its SHA-256; nothing is resolved.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools
PIP    := pip install --disable-pip-version-check -q
TEST_WORKERS ?= 2

.PHONY: demo test setup models system-deps lint lock

demo: setup models system-deps
	@$(BIN)/skynet users list | grep -q . || $(BIN)/skynet users create-admin admin
	$(BIN)/skynet serve

test: setup lint models system-deps
	$(BIN)/python -m pytest -ra --durations=25 -n $(TEST_WORKERS) --dist loadfile

setup: $(BIN)/skynet

# A new virtualenv whenever pyproject.toml or the lock changes, so that it holds exactly what the lock lists;
# --no-deps: pip takes the lock as it is (pip check then proves it complete).
$(BIN)/skynet: pyproject.toml requirements/test.txt
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/$(PIP) --no-deps --require-hashes --only-binary :all: -r requirements/test.txt
	$(BIN)/$(PIP) --no-deps --no-build-isolation -e .
	$(BIN)/pip check -q
	touch $@

models: setup
	$(BIN)/skynet models install

system-deps:
	scripts/install-system-deps.sh

lint: setup
	$(BIN)/ruff format --check skynet tests benchmarks
	$(BIN)/ruff check skynet
	$(BIN)/mypy skynet

lock: $(TOOLS)/bin/uv
	scripts/lock.sh

$(TOOLS)/bin/uv: requirements/tools.txt
	$(PYTHON) -m venv --clear $(TOOLS)
	$(TOOLS)/bin/$(PIP) --no-deps --require-hashes --only-binary :all: -r requirements/tools.txt
	touch $@
