"""Shared fixtures. Database tests run against the DATABASE_URL in force (SQLite by default,
PostgreSQL in CI's second pass); Redis tests against REDIS_TEST_URL."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
DEMO_CHECKPOINT = ROOT / "modelserver" / "demo" / "checkpoint"


def live_database_url() -> str:
    """A URL for the test database that another process (a Celery worker) can open."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    user = s["USER"] or ""
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgres://{user}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter at the repo root with exactly `env` on top of PATH."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "assistant.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is needed at {REDIS_TEST_URL} (set REDIS_TEST_URL): {error}")
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()


@pytest.fixture
def fresh_safety_state(settings):
    """The keyword lists and constitution of this test's database, checked on every call (a
    transactional test's flush empties the tables a cached matcher was built from)."""
    from safety import alignment, keywords

    settings.SAFETY_RELOAD_CHECK_SECONDS = 0
    settings.MODEL_SERVER_URL = "http://127.0.0.1:9/v1"  # nothing listens: the judge is unreachable
    keywords.reset_matcher()
    alignment.reset()
    yield
    keywords.reset_matcher()
    alignment.reset()


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory):
    """Our model server serving the checkpoint `make run` serves, for the tests of what the
    demo model says (integration and browser)."""
    from tests.live import ModelServer

    server = ModelServer(DEMO_CHECKPOINT, log_dir=tmp_path_factory.mktemp("demo-model"))
    server.start()
    yield server
    server.stop()
