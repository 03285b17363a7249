# peakops: the two commands a new machine needs are `make rehearse` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps rehearse test test-fast lint check-alerts check-dashboards fmt clean

setup: $(STAMP) system-deps

# Prometheus, Alertmanager and Chromium from Debian, where apt-get exists and they are missing.
system-deps:
	bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# grafana-client brings urllib3-future, whose wheel replaces urllib3 for every package
	# at interpreter start; built from source with URLLIB3_NO_OVERRIDE it sits beside it.
	URLLIB3_NO_OVERRIDE=1 $(BIN)/python -m pip install --quiet --no-binary urllib3-future -e '.[dev]'
	touch $(STAMP)

rehearse: setup
	$(BIN)/peakops rehearse --plan peak.yaml

# Unit tests and the integration tests that judge no latency run two at a time; those
# whose verdicts depend on latency run alone, so a busy neighbour cannot fail them.
test: setup
	@status=0; \
	$(BIN)/pytest -n 2 -m "not integration or parallel" || status=$$?; \
	$(BIN)/pytest -m "integration and not parallel" || status=$$?; \
	exit $$status

test-fast: setup
	$(BIN)/pytest -m "not integration"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict slo
	$(BIN)/mypy cli collectors rollout rehearsal platforms scenarios reference_oms chaos alerts dashboards

# The committed alert rules match the default plan, and the real promtool/amtool accept them.
check-alerts: setup
	$(BIN)/peakops alerts generate --check
	$(BIN)/peakops alerts test

# The committed dashboards match the default plan, and pass the offline lint.
check-dashboards: setup
	$(BIN)/peakops dashboards build --check
	$(BIN)/peakops dashboards lint dashboards/generated/*.json

fmt: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
