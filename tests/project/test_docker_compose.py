"""Docker cannot run here: check the production stack's structure, and that every command
it runs exists in this repository."""

import importlib.util
import shlex

import yaml
from django.core.management import get_commands

from modelserver.__main__ import COMMANDS
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def command_of(service: dict) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def assert_runs_in_repo(argv: list[str]) -> None:
    if argv[:2] == ["python", "-m"]:
        module = argv[2]
        assert importlib.util.find_spec(module), f"no module {module}"
        if module == "modelserver":
            assert argv[3] in COMMANDS, f"python -m modelserver has no command {argv[3]!r}"
            assert importlib.util.find_spec(COMMANDS[argv[3]][0]), f"{argv[3]} is not implemented"
    elif argv[:2] == ["python", "manage.py"]:
        assert argv[2] in get_commands(), f"no management command {argv[2]}"
    elif argv[0] == "uvicorn":
        module = argv[1].split(":")[0]
        assert importlib.util.find_spec("uvicorn") and importlib.util.find_spec(module)
    elif argv[0] == "celery":
        assert importlib.util.find_spec(argv[argv.index("-A") + 1])
    else:
        raise AssertionError(f"unknown program {argv[0]!r}")


def test_the_stack_has_the_production_services():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "modelserver", "vllm"}


def test_every_service_built_from_this_repo_runs_a_command_that_exists():
    built = [name for name, s in SERVICES.items() if "build" in s]
    assert set(built) == {"migrate", "web", "worker", "modelserver"}
    for name in built:
        argv = command_of(SERVICES[name])
        assert argv, f"{name} has no command"
        assert_runs_in_repo(argv)
        assert (ROOT / SERVICES[name]["build"]["dockerfile"]).exists()


def test_the_web_and_worker_get_production_settings():
    for name in ("web", "worker"):
        env = SERVICES[name]["environment"]
        assert env["DEBUG"] == "0"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert "SECRET_KEY" in env and "?" in env["SECRET_KEY"], "SECRET_KEY must be required"
    settings_text = (ROOT / "assistant/settings.py").read_text()
    for variable in SERVICES["web"]["environment"]:
        assert f'"{variable}"' in settings_text, f"{variable} is not read by the settings"


def test_gpu_services_reserve_a_gpu_and_vllm_is_an_opt_in_profile():
    for name in ("modelserver", "vllm"):
        devices = SERVICES[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    assert SERVICES["vllm"]["profiles"] == ["vllm"]
    vllm = " ".join(command_of(SERVICES["vllm"]))
    for flag in ("--enable-auto-tool-choice", "--tool-call-parser", "--reasoning-parser"):
        assert flag in vllm


def test_services_wait_for_healthy_dependencies():
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert SERVICES[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert "healthcheck" in SERVICES[name]
