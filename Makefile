# Trcker developer entry points. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test check-reliability lint typecheck format venv assets conformance-tools oidc-op bench bench-http clean-db help

help:
	@echo "make run    - set up (SQLite), seed the demo brand, serve on http://127.0.0.1:$${PORT:-8000}"
	@echo "make test   - set up and run the whole test suite (DATABASE_URL/REDIS_URL if set)"
	@echo "make lint   - ruff, the layer contracts (lint-imports) and the file-size rule"
	@echo "make typecheck - mypy (strict on core and the domain apps); every type: ignore says why"

venv: $(STAMP)

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Front-end assets from the npm registry (package.json + lock), copied into our static
# files: BotD for the click interstitial. Skipped with a notice when npm is missing.
BOTD_ASSET := trcker_site/static/vendor/botd/botd.esm.js
assets: $(BOTD_ASSET)

$(BOTD_ASSET): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --loglevel=error && \
		mkdir -p $(dir $(BOTD_ASSET)) && \
		cp node_modules/@fingerprintjs/botd/dist/botd.esm.js $(BOTD_ASSET); \
	else echo "npm not found: BotD assets not built (the BotD toggle stays unavailable)"; fi

run: $(STAMP)
	-@$(MAKE) --no-print-directory assets
	@PY=$(PY) scripts/run-local.sh

# The MCP conformance suite and Node 22, from the npm registry (used by the test suite).
CONFORMANCE := tools/mcp-conformance/node_modules/.bin/conformance
conformance-tools: $(CONFORMANCE)

$(CONFORMANCE): tools/mcp-conformance/package.json tools/mcp-conformance/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tools/mcp-conformance && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the MCP conformance tests will be skipped"; fi

# The OpenID provider the OAuth/SSO tests start on loopback (npm oidc-provider + Node 22).
OIDC_OP := tools/oidc-provider/node_modules/.package-lock.json
oidc-op: $(OIDC_OP)

$(OIDC_OP): tools/oidc-provider/package.json tools/oidc-provider/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tools/oidc-provider && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the OAuth/SSO tests against a real provider will be skipped"; fi

test: $(STAMP)
	-@$(MAKE) --no-print-directory conformance-tools assets oidc-op
	@SECRET_KEY=$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(40))')} \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

# The reliability tests with the long versions: 120 s of sustained mixed load against
# gunicorn (tests/reliability/test_load.py). Needs DATABASE_URL (PostgreSQL) and REDIS_URL.
check-reliability: $(STAMP)
	@SECRET_KEY=$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(40))')} \
		TRCKER_LOAD_SECONDS=$${TRCKER_LOAD_SECONDS:-120} \
		$(VENV)/bin/pytest tests/reliability $(PYTEST_ARGS)

# Benchmarks (not tests): figures printed and saved under bench/results/.
bench: $(STAMP)
	$(PY) bench/stats_bench.py
	$(PY) bench/http_bench.py
	$(PY) bench/mcp_bench.py
	$(PY) bench/report_bench.py

# The HTTP benchmark alone (gunicorn + PostgreSQL + Redis on loopback).
bench-http: $(STAMP)
	$(PY) bench/http_bench.py

# The layer contracts are in pyproject.toml and importlinter-frameworks.toml (docs/architecture.md).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache --no-logo pyproject.toml importlinter-frameworks.toml
	$(PY) scripts/check_file_sizes.py

# mypy with the Django and DRF plugins ([tool.mypy] in pyproject.toml says what is strict), then
# the rule that each `# type: ignore[code]` gives its reason. The Django plugin imports the
# settings: they get a fixed placeholder SECRET_KEY (nothing is signed during a type check) and
# nothing else from the environment, so every machine checks the same configuration.
typecheck: $(STAMP)
	env -i PATH="$$PATH" SECRET_KEY=typecheck-only $(VENV)/bin/mypy
	$(PY) scripts/check_type_ignores.py

format: $(STAMP)
	$(VENV)/bin/ruff format .

clean-db:
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm var/demo_api_key var/demo_admin_password
