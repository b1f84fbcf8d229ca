"""Settings are read from the environment; DEBUG off refuses an insecure configuration."""

from tests.conftest import run_python

SETUP = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
STRONG = "k3y-" + "x7Qp9Lm2Zr8Vt4Wn6Ys1Hb5Jd0Fg3Kc" * 2


def test_debug_off_without_a_secret_key_refuses_to_start(tmp_path):
    result = run_python(
        SETUP, {"DEBUG": "0", "ALLOWED_HOSTS": "shop.example", "VAR_DIR": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in result.stderr


def test_debug_off_with_a_weak_secret_key_refuses_to_start(tmp_path):
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "secret",
        "ALLOWED_HOSTS": "shop.example",
        "VAR_DIR": str(tmp_path),
    }
    result = run_python(SETUP, env)
    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_debug_off_without_allowed_hosts_refuses_to_start(tmp_path):
    result = run_python(SETUP, {"DEBUG": "0", "SECRET_KEY": STRONG, "VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is empty" in result.stderr


def test_debug_off_refuses_a_wildcard_host(tmp_path):
    env = {"DEBUG": "0", "SECRET_KEY": STRONG, "ALLOWED_HOSTS": "*", "VAR_DIR": str(tmp_path)}
    assert "not allowed with DEBUG off" in run_python(SETUP, env).stderr


def test_a_secure_production_configuration_starts_on_the_database_url(tmp_path):
    env = {
        "DEBUG": "0",
        "SECRET_KEY": STRONG,
        "ALLOWED_HOSTS": "shop.example",
        "DATABASE_URL": "postgres://shop@db.internal:5432/shop",
        "VAR_DIR": str(tmp_path),
    }
    result = run_python(SETUP, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_a_local_run_generates_a_secret_key_once_and_keeps_it(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_python(code, {"DEBUG": "1", "VAR_DIR": str(tmp_path)})
    second = run_python(code, {"DEBUG": "1", "VAR_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.strip()) >= 50
    assert first.stdout == second.stdout
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_a_misspelt_boolean_is_an_error_not_a_silent_default(tmp_path):
    result = run_python(SETUP, {"DEBUG": "ture", "VAR_DIR": str(tmp_path)})
    assert "DEBUG='ture' is not a boolean" in result.stderr


def test_redis_url_switches_cache_and_broker_to_redis(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.CACHES['default']['BACKEND']); print(settings.CELERY_BROKER_URL)"
    )
    result = run_python(
        code, {"DEBUG": "1", "VAR_DIR": str(tmp_path), "REDIS_URL": "redis://cache:6379/0"}
    )
    assert result.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://cache:6379/0",
    ]
    result = run_python(code, {"DEBUG": "1", "VAR_DIR": str(tmp_path)})
    assert result.stdout.split()[1].startswith("sqla+sqlite:///")
