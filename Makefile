# Two commands do everything on a fresh machine with Python 3.11+, Java 17 and Maven:
#   make run    the service on a local Apache Kafka broker, showing decisions as they arrive (Ctrl-C stops all)
#   make test   the whole suite, against a real broker the test session starts and stops
# The broker is Apache Kafka 4.1.1 unless KAFKA_VERSION says otherwise (devtools/localkafka/versions.py):
#   KAFKA_VERSION=3.9.1 make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit lint schemas bench bench-quick broker mutation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/python -m devtools.devrun

test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit

lint: install
	$(BIN)/ruff check .

schemas: install
	$(BIN)/moderation schemas

bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

broker: install
	$(BIN)/python -m devtools.localkafka run --state-dir .cache/kafka/state-$(or $(KAFKA_VERSION),default) --port 9092

# Mutation testing of service/core and service/kafka/delivery.py against the unit tests (docs/testing.md).
# Slow (hours for everything on 2 cores), never in CI. A subset: make mutation MUTANTS='service.core.replay*'
MUTANTS ?=
mutation: install
	$(BIN)/pip install --quiet -e '.[dev,mutation]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 $(foreach m,$(MUTANTS),'$(m)')
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .cache .pytest_cache mutants
