# Two commands do everything on a fresh machine with Python 3.11+, Java 17 and Maven:
#   make run    the service on a local Apache Kafka broker, showing decisions as they arrive (Ctrl-C stops all)
#   make test   the whole suite, against a real broker the test session starts and stops
# The broker is Apache Kafka 4.1.1 unless KAFKA_VERSION says otherwise (devtools/localkafka/versions.py):
#   KAFKA_VERSION=3.9.1 make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser run test test-unit lint schemas bench bench-quick broker lock mutation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The console test drives a real headless Chromium: Debian's chromium and chromium-driver (selenium finds the
# driver at /usr/bin/chromedriver; it cannot download one here). Skipped when both are there; needs root
# (CI runs as root) or sudo.
browser:
	@if [ -x /usr/bin/chromedriver ] && command -v chromium > /dev/null; then :; else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

run: install
	$(BIN)/python -m devtools.devrun

test: install browser
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

# The Docker image installs exactly these versions, each checked against its sha256 (pip --require-hashes).
# Run after changing the dependencies in pyproject.toml; tests/unit/test_lock.py checks that they agree.
lock: install
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .cache .pytest_cache mutants
