"""The real stack in processes: our model server on a tiny random R1 checkpoint, and Django
under uvicorn on the test database. Tests talk to them over HTTP as the widget and IDE do."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import ModelServer, Web, start_web, stop


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from modelserver.testing import build_tiny_checkpoint

    # A context long enough for the assistant's system prompt and tools.
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-r1"), max_position_embeddings=8192)


@pytest.fixture(scope="session")
def model_server(tiny_checkpoint) -> Iterator[ModelServer]:
    server = ModelServer(tiny_checkpoint)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web(model_server, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Web]:
    with django_db_blocker.unblock():
        server, process = start_web(
            model_url=model_server.url, var_dir=tmp_path_factory.mktemp("web")
        )
    yield server
    stop(process)
