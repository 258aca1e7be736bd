"""docker-compose.yml, checked statically (no Docker engine on these machines).

Each test reads the compose file (and the GPU override) as Compose would and checks one promise the
README makes about it: it parses; every command is a real `modstream` command that its own argparse
parser accepts; every MODSTREAM_ variable names a real setting; images are pinned; every service has
a healthcheck; consumers scale; the GPU is reserved only by the override.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from events.settings import Settings
from modstream.cli import COMMANDS
from tests.unit.deploy.compose_env import COMPOSE, GPU_OVERRIDE, ROOT, load_resolved

MODSTREAM_VAR = re.compile(r"\bMODSTREAM_[A-Z0-9_]+")
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+([.-][\w.-]+)?$")


def _load(path: Path) -> dict[str, Any]:
    """The file as Compose runs it with the operator's required `.env` and nothing else set."""
    return load_resolved(path)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load(COMPOSE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def setting_names() -> set[str]:
    """Walk the Settings model: sections become MODSTREAM_<SECTION>__<FIELD>."""
    names = set()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= {f"MODSTREAM_{name.upper()}__{sub.upper()}" for sub in annotation.model_fields}
        else:
            names.add(f"MODSTREAM_{name.upper()}")
    return names


def _parse_modstream(argv: list[str]) -> argparse.Namespace:
    """Parse `modstream <command> ...` with that command's own parser; SystemExit on a bad argument."""
    assert argv[0] == "modstream", f"not a modstream command: {argv}"
    assert len(argv) > 1 and argv[1] in COMMANDS, f"unknown modstream command in {argv}"
    module = importlib.import_module(COMMANDS[argv[1]][0])
    parser = argparse.ArgumentParser(prog=f"modstream {argv[1]}", exit_on_error=False)
    module.add_arguments(parser)
    return parser.parse_args(argv[2:])


def _argv(value: str | list[str]) -> list[str]:
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def test_the_expected_services_are_there(services: dict[str, Any]) -> None:
    assert set(services) >= {"kafka", "redis", "consumer", "trainer", "prometheus", "grafana"}


def test_every_modstream_command_is_real_and_parses(services: dict[str, Any]) -> None:
    seen = []
    for name, service in services.items():
        candidates = []
        if "command" in service:
            candidates.append(_argv(service["command"]))
        test = (service.get("healthcheck") or {}).get("test")
        if test and test[0] == "CMD":
            candidates.append(_argv(test[1:]))
        for argv in candidates:
            if argv and argv[0] == "modstream":
                _parse_modstream(argv)
                seen.append((name, argv[1]))
    assert ("consumer", "consume") in seen
    assert ("trainer", "train") in seen
    assert ("consumer", "check") in seen


def test_the_parser_check_rejects_a_bad_command() -> None:
    with pytest.raises(AssertionError):
        _parse_modstream(["modstream", "no-such-command"])
    with pytest.raises((SystemExit, argparse.ArgumentError)):
        _parse_modstream(["modstream", "produce", "posts.jsonl", "--no-such-flag"])


@pytest.mark.parametrize(
    "path",
    ["docker-compose.yml", "deploy/docker-compose.gpu.yml", "deploy/.env.example", "deploy/Dockerfile"],
)
def test_every_modstream_variable_names_a_real_setting(path: str) -> None:
    used = set(MODSTREAM_VAR.findall((ROOT / path).read_text(encoding="utf-8")))
    assert used, f"{path} sets no MODSTREAM_ variable"
    unknown = used - setting_names()
    assert not unknown, f"{path} uses variables that are no setting: {sorted(unknown)}"


def test_env_example_covers_every_setting() -> None:
    text = (ROOT / "deploy" / ".env.example").read_text(encoding="utf-8")
    assert set(MODSTREAM_VAR.findall(text)) == setting_names()


def test_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        repo, _, tag = image.rpartition(":")
        assert repo and PINNED_TAG.match(tag), f"{name}: image {image!r} is not pinned to a version"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_kafka_runs_kraft_single_node(services: dict[str, Any]) -> None:
    env = services["kafka"]["environment"]
    assert set(str(env["KAFKA_PROCESS_ROLES"]).split(",")) == {"broker", "controller"}
    assert str(env["KAFKA_CONTROLLER_QUORUM_VOTERS"]).startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    assert "ZOOKEEPER" not in " ".join(env)
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        assert int(env[key]) == 1


def test_every_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    assert services["consumer"]["healthcheck"]["test"][:3] == ["CMD", "modstream", "check"]


def test_modstream_services_reach_kafka_and_redis_by_service_name(services: dict[str, Any]) -> None:
    for name in ("consumer", "trainer"):
        env = services[name]["environment"]
        host, _, port = env["MODSTREAM_KAFKA__BOOTSTRAP_SERVERS"].partition(":")
        assert (
            host in services
            and f"INTERNAL://{host}:{port}" in services[host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        )
        assert env["MODSTREAM_REDIS__URL"].startswith("redis://redis:")
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> source (volume name or host path)."""
    out = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":")[:2]
        out[target] = source
    return out


def test_registry_and_dataset_store_live_on_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    consumer, trainer = services["consumer"], services["trainer"]
    registry = consumer["environment"]["MODSTREAM_MODEL__REGISTRY"]
    assert trainer["environment"]["MODSTREAM_MODEL__REGISTRY"] == registry
    assert _mounts(consumer)[registry] == _mounts(trainer)[registry] == "models"
    assert registry + ":ro" in " ".join(consumer["volumes"]), "consumers only read the registry"
    store = trainer["environment"]["MODSTREAM_TRAINER__DATA_DIR"]
    assert _mounts(trainer)[store] == "trainer-data"
    assert {"models", "trainer-data"} <= set(compose["volumes"])


def test_consumers_can_scale(services: dict[str, Any]) -> None:
    consumer = services["consumer"]
    # A fixed name or a published port would make `--scale consumer=3` fail.
    assert "container_name" not in consumer
    assert "ports" not in consumer


def test_gpu_is_reserved_only_by_the_override(services: dict[str, Any]) -> None:
    assert "deploy" not in services["consumer"], "the base file must run on CPU-only hosts"
    override = _load(GPU_OVERRIDE)["services"]["consumer"]
    devices = override["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    assert override["environment"]["MODSTREAM_DEVICE"] == "cuda"


def test_bind_mounted_config_exists(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for source in _mounts(service).values():
            if source.startswith("./deploy/"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_inline_python_healthchecks_compile(services: dict[str, Any]) -> None:
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        if test[:3] == ["CMD", "python", "-c"]:
            compile(test[3], f"{name} healthcheck", "exec")
