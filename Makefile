# One set of targets for the README, CI and developers.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-unit test-integration test-davidson fuzz lint format bench clean browser-deps prometheus-deps

# (Re)creates the virtualenv when pyproject.toml or the lock changes. torch and torchvision first,
# pinned, so that nothing else can pull a different (multi-GB) build.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/modstream demo

test: install
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration tests/e2e

# The real-data check of issue 4 (Davidson et al. tweets, pretrained MiniLM, about 11 min on 2 cores):
# opt-in, too slow for every CI run.
test-davidson: install
	MODSTREAM_TEST_DAVIDSON=1 $(PY) -m pytest tests/integration/trainer_offline/test_davidson.py

# The review console's browser tests drive Debian's headless Chromium through its chromedriver
# (selenium is pointed at /usr/bin/chromedriver and never downloads a browser). Needs root, as CI has.
browser-deps:
	@if [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/chromium ]; then echo "chromium and chromedriver present"; \
	else apt-get update && apt-get install -y chromium chromium-driver; fi

# The dashboard test (tests/integration/observability) runs Debian's `prometheus` against a live consumer
# with the project's scrape configuration; installed when missing. Needs root, as CI has.
prometheus-deps:
	@if command -v prometheus >/dev/null 2>&1; then echo "prometheus present"; \
	else apt-get update && apt-get install -y prometheus; fi

# The fuzz suite at full strength (at least 10,000 hostile messages per target; `make test` runs a few
# hundred per target).
fuzz: install
	MODSTREAM_FUZZ_PROFILE=fuzz $(PY) -m pytest tests/fuzz --timeout 3600 --durations 0 --hypothesis-show-statistics

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
