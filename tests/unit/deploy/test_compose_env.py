"""The compose stack does what its docs say: `.env` wins, nothing is open by default, GPUs are pinned.

Issue #11's operator found `.env` silently ignored (values under `environment:` beat `env_file:`),
Kafka, Prometheus and Grafana published on every interface, Grafana's admin password defaulting to
admin, a Kafka cluster id that is no UUID, and a GPU override that put every replica on GPU 0. Each
test below reads the files as Compose would (tests/unit/deploy/compose_env.py) and pins one of those.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tests.unit.deploy.compose_env import (
    COMPOSE,
    GPU_OVERRIDE,
    REQUIRED_ENV,
    REQUIRED_SETTINGS,
    MissingVariable,
    interpolate,
    load_raw,
    load_resolved,
)

# `${NAME:-default}` with the setting's own name, and nothing else around it.
_WITH_DEFAULT = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):-(?P<default>[^}]*)\}$")
_REQUIRED = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):\?(?P<message>[^}]+)\}$")
_FILES = [COMPOSE, GPU_OVERRIDE]


def _environments(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, mapping) for every `environment:` of a service, anchors already expanded by YAML."""
    out = []
    for name, service in doc["services"].items():
        env = service.get("environment")
        if isinstance(env, dict):
            out.append((name, env))
        elif isinstance(env, list):
            out.append((name, dict(item.split("=", 1) for item in env)))
    return out


@pytest.mark.parametrize("path", _FILES, ids=lambda p: p.name)
def test_every_modstream_value_is_an_interpolation_with_a_default(path: Any) -> None:
    seen = 0
    for service, env in _environments(load_raw(path)):
        for key, value in env.items():
            if key.startswith("MODSTREAM_"):
                # a secret is required from .env (compose refuses to start without it); the rest has a default
                match = (_REQUIRED if key in REQUIRED_SETTINGS else _WITH_DEFAULT).match(str(value))
                assert match, f"{path.name}/{service}: {key}={value!r} would override .env"
                assert match["name"] == key, f"{path.name}/{service}: {key} reads ${{{match['name']}}}"
                seen += 1
    assert seen >= 4


def test_a_value_in_dot_env_wins_over_the_default() -> None:
    operator = {
        **REQUIRED_ENV,
        "MODSTREAM_DEVICE": "cpu",
        "MODSTREAM_TRAINER__PRESET": "minilm",
    }
    services = load_resolved(COMPOSE, operator)["services"]
    assert services["consumer"]["environment"]["MODSTREAM_DEVICE"] == "cpu"
    assert services["trainer"]["environment"]["MODSTREAM_TRAINER__PRESET"] == "minilm"
    defaults = load_resolved(COMPOSE)["services"]
    assert defaults["consumer"]["environment"]["MODSTREAM_DEVICE"] == "auto"
    assert defaults["trainer"]["environment"]["MODSTREAM_TRAINER__PRESET"] == "base"


def _published(services: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, str(port)) for name, s in services.items() for port in s.get("ports", [])]


def test_every_published_port_is_bound_to_loopback_by_default() -> None:
    ports = _published(load_resolved(COMPOSE)["services"])
    assert {name for name, _ in ports} >= {"kafka", "prometheus", "grafana", "review"}
    for name, port in ports:
        assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name} publishes {port!r}"
        host_ip, host_port, container_port = port.split(":")
        assert host_ip == "127.0.0.1"
        assert host_port and container_port


def test_the_operator_can_opt_into_every_interface() -> None:
    env = {**REQUIRED_ENV, "BIND_ADDRESS": "0.0.0.0"}
    for name, port in _published(load_resolved(COMPOSE, env)["services"]):
        assert port.startswith("0.0.0.0:"), f"{name} ignores BIND_ADDRESS: {port}"


def test_grafana_has_no_default_admin_password() -> None:
    others = {k: v for k, v in REQUIRED_ENV.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    with pytest.raises(MissingVariable, match="GRAFANA_ADMIN_PASSWORD"):
        load_resolved(COMPOSE, others)
    with pytest.raises(MissingVariable):
        load_resolved(COMPOSE, {**others, "GRAFANA_ADMIN_PASSWORD": ""})  # `:?` refuses empty too
    grafana = load_resolved(COMPOSE, {**others, "GRAFANA_ADMIN_PASSWORD": "s3cret"})["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    raw = load_raw(COMPOSE)["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert ":?" in raw and ":-" not in raw


def test_the_kafka_cluster_id_is_a_uuid() -> None:
    cluster_id = load_resolved(COMPOSE)["services"]["kafka"]["environment"]["CLUSTER_ID"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), cluster_id
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def _gpu_reservation(service: dict[str, Any]) -> list[dict[str, Any]]:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


def test_the_gpu_override_pins_each_consumer_to_its_own_device() -> None:
    services = load_resolved(GPU_OVERRIDE)["services"]
    consumers = {n: s for n, s in services.items() if s.get("command") == ["modstream", "consume"]}
    assert len(consumers) >= 2, "one consumer service per GPU"
    pinned = []
    for name, service in consumers.items():
        (device,) = _gpu_reservation(service)
        # `count` would hand every replica the first GPU; only explicit ids pin.
        assert "count" not in device and device["driver"] == "nvidia", name
        (device_id,) = device["device_ids"]
        pinned.append(str(device_id))
        assert service["environment"]["MODSTREAM_DEVICE"] == "cuda"
    assert len(set(pinned)) == len(pinned), f"consumers share a GPU: {pinned}"
    (trainer_device,) = _gpu_reservation(services["trainer"])
    assert "count" not in trainer_device and len(trainer_device["device_ids"]) == 1
    moved = load_resolved(GPU_OVERRIDE, {**REQUIRED_ENV, "TRAINER_GPU": "3"})["services"]["trainer"]
    assert _gpu_reservation(moved)[0]["device_ids"] == ["3"]


def test_the_gpu_consumers_are_the_base_consumer_but_for_the_gpu() -> None:
    """The override repeats the consumer's definition (anchors do not cross files): it must not drift."""
    base = load_resolved(COMPOSE)["services"]["consumer"]
    for name, service in load_resolved(GPU_OVERRIDE)["services"].items():
        if service.get("command") != ["modstream", "consume"]:
            continue
        mine = {k: v for k, v in service.items() if k != "deploy"}
        theirs = dict(base)
        env = dict(mine["environment"])
        assert env.pop("MODSTREAM_DEVICE") == "cuda"
        theirs_env = dict(theirs["environment"])
        theirs_env.pop("MODSTREAM_DEVICE")
        assert env == theirs_env, name
        mine.pop("environment"), theirs.pop("environment")
        assert mine == theirs, name


def test_the_image_says_which_driver_it_needs() -> None:
    text = GPU_OVERRIDE.read_text(encoding="utf-8")
    assert "CUDA 13" in text and re.search(r"driver >= 5\d\d", text)


def test_interpolation_reads_like_compose() -> None:
    assert interpolate("${A:-x}|${A-y}|$${A}", {"A": ""}) == "x||${A}"
    assert interpolate("${A:-x}", {"A": "v"}) == "v"
    with pytest.raises(MissingVariable):
        interpolate("${B:?needed}", {})


def test_every_compose_variable_is_in_the_env_example_with_its_default() -> None:
    example = (COMPOSE.parent / "deploy" / ".env.example").read_text(encoding="utf-8")
    written = dict(re.findall(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", example, flags=re.MULTILINE))
    for path in _FILES:
        for name, default in re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?]([^}]*))?\}", path.read_text()):
            if name.startswith("MODSTREAM_"):
                continue  # settings: the generated part of the file, checked by test_compose.py
            assert name in written, f"{path.name} reads {name}, which deploy/.env.example does not list"
            if default and name != "GRAFANA_ADMIN_PASSWORD":
                assert written[name] == default, (
                    f"{name}: .env.example says {written[name]!r}, compose {default!r}"
                )
