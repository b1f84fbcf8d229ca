# The two commands of the README: `make run` and `make test`. Everything installs from here.
VENV ?= .venv
PY := $(VENV)/bin/python
# pip takes the local CPU build of torch where the machine has one; elsewhere pass e.g.
# TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu" to avoid the CUDA wheels.
TORCH_PIP_ARGS ?=
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/assistant
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test install lint format

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0 $(TORCH_PIP_ARGS)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: export DEBUG ?= 1
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py seed_finetune_demo
	@echo
	@echo "  Demo shop:         http://127.0.0.1:8000/demo/     (the chat widget, signed in as a demo customer)"
	@echo "  Operator console:  http://127.0.0.1:8000/console/  (logins above; the Django admin is at /admin/)"
	@echo "  Chat and IDE APIs: http://127.0.0.1:8000/api/docs/  (IDE endpoint for Tabby plugins: http://127.0.0.1:8000/ide)"
	@echo "  Model server:      http://127.0.0.1:8001/v1/models  (OpenAI API, demo model on CPU)"
	@echo "  Health:            http://127.0.0.1:8000/readyz"
	@echo
	$(VENV)/bin/honcho start

# The suite runs on SQLite (the default a newcomer gets); the database tests run again on
# PostgreSQL when one answers at PG_TEST_URL (CI requires it).
test: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest
	@if $(PY) -c "import psycopg; psycopg.connect('$(PG_TEST_URL)'.rsplit('/', 1)[0] + '/postgres', connect_timeout=3).close()" 2>/dev/null; then \
		echo "== Database tests again on PostgreSQL ($(PG_TEST_URL))"; \
		DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest -m django_db; \
	elif [ -n "$$CI" ]; then \
		echo "PostgreSQL is not reachable at $(PG_TEST_URL); CI needs it." >&2; exit 1; \
	else \
		echo "== PostgreSQL not reachable at $(PG_TEST_URL): database tests ran on SQLite only."; \
	fi

lint:
	$(PY) -m ruff check .

format:
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
