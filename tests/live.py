"""The real stack in processes, for the integration and browser tests: our model server
(`python -m modelserver serve`) and Django under uvicorn on the test database."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings

from tests.conftest import ROOT, live_database_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server process whose output goes to a file: a pipe that nobody reads fills up
    after 64 KiB of log lines and then blocks the server."""
    with open(log, "w") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_until_up(url: str, process: subprocess.Popen, *, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{url} did not come up in {timeout}s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


class ModelServer:
    def __init__(self, checkpoint: Path, *, log_dir: Path | None = None) -> None:
        self.checkpoint = checkpoint
        self.log_dir = log_dir or checkpoint.parent
        self.process: subprocess.Popen | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        log = self.log_dir / f"modelserver-{self.port}.log"
        self.process = launch(
            [
                sys.executable,
                "-m",
                "modelserver",
                "serve",
                "--model",
                str(self.checkpoint),
                "--port",
                str(self.port),
                "--served-model-name",
                "demo",
            ],
            log=log,
        )
        wait_until_up(f"http://127.0.0.1:{self.port}/ready", self.process, log=log)

    def stop(self) -> None:
        if self.process:
            stop(self.process)
            self.process = None


class Web:
    def __init__(self, base: str) -> None:
        self.base = base

    def client(self, **headers) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=headers, timeout=300)


def start_web(*, model_url: str, var_dir: Path, **extra_env: str) -> tuple[Web, subprocess.Popen]:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "1",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": live_database_url(),
        "MODEL_SERVER_URL": model_url,
        "MODEL_NAME": "demo",
        "MODEL_SERVER_TIMEOUT": "120",
        "AGENT_MAX_TOKENS": "24",
        "AGENT_MAX_STEPS": "3",
        "HF_HUB_OFFLINE": "1",
        # The test process signs identity tokens as the shop's backend would.
        "WIDGET_IDENTITY_SECRET": settings.WIDGET_IDENTITY_SECRET,
        **extra_env,
    }
    log = var_dir / "web.log"
    process = launch(
        [sys.executable, "-m", "uvicorn", "assistant.asgi:application", "--port", str(port)],
        log=log,
        env=env,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process, log=log, timeout=60)
    return Web(f"http://127.0.0.1:{port}"), process


def sse_events(response: httpx.Response) -> list[tuple[str, dict]]:
    """Parse a text/event-stream body into (event, data) pairs."""
    events, name, data = [], None, []
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif line == "" and name:
            events.append((name, json.loads("\n".join(data))))
            name, data = None, []
    return events


def start_worker(*, env: dict[str, str], log, queues: str = "celery") -> subprocess.Popen:
    """A Celery worker process (solo pool) in its own process group, so that a test can kill it
    with everything it started, as a crash would."""
    celery = [sys.executable, "-m", "celery", "-A", "assistant", "worker", "--pool=solo"]
    return subprocess.Popen(
        [*celery, "-Q", queues, "--without-gossip", "--without-mingle", "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def chat_signed_in(web: Web, customer) -> tuple[httpx.Client, str]:
    """A chat API client signed in as `customer` (as the widget is, with the shop's identity
    token) and a new conversation's id."""
    from assistant.chat.identity import identity_token_create

    client = web.client()
    response = client.post(
        "/api/chat/sessions",
        json={"identity_token": identity_token_create(external_id=customer.external_id)},
    )
    assert response.status_code == 201, response.text
    client.headers["Authorization"] = "Bearer " + response.json()["session_token"]
    conversation = client.post("/api/chat/conversations", json={}).json()
    return client, conversation["id"]


def chat_send(client: httpx.Client, conversation_id: str, content: str, **extra) -> list:
    """Post a customer message and read the whole event stream of the reply."""
    with client.stream(
        "POST",
        f"/api/chat/conversations/{conversation_id}/messages",
        json={"content": content, **extra},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response)
