import secrets
import time

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from assistant.celery import app as celery_app

from .tasks import ping


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


def _check(checks: dict, name: str, probe) -> None:
    started = time.perf_counter()
    try:
        probe()
        checks[name] = {"ok": True}
    except Exception as error:
        checks[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    key = f"readyz:{secrets.token_hex(4)}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("value written to the cache did not come back")
    cache.delete(key)


def _broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _worker() -> None:
    nonce = secrets.token_hex(8)
    if ping.delay(nonce).get(timeout=5)["nonce"] != nonce:
        raise RuntimeError("a worker answered with the wrong nonce")


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, cache and broker reachable; `?worker=1` also round-trips a task."""
    checks: dict = {}
    _check(checks, "database", _database)
    _check(checks, "cache", _cache)
    _check(checks, "broker", _broker)
    if request.GET.get("worker") == "1":
        _check(checks, "worker", _worker)
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)
