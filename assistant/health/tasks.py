import socket

from celery import shared_task
from django.db import connection


@shared_task(name="health.ping")
def ping(nonce: str) -> dict:
    """Answer from a worker, proving it reaches the broker and the same database as the web."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (one,) = cursor.fetchone()
    return {"nonce": nonce, "hostname": socket.gethostname(), "database": one == 1}
