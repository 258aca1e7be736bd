"""deploy/Dockerfile, checked statically: pinned multi-stage, non-root, weights baked in at build time."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in _instructions():
        if word == "FROM":
            current = rest.split(" AS ")[-1].strip() if " AS " in rest else rest
            stages[current] = []
        elif current is not None:
            stages[current].append((word, rest))
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, list[tuple[str, str]]]:
    return _stages()


def test_base_image_is_pinned_to_a_patch_release() -> None:
    args = dict(rest.split("=", 1) for word, rest in _instructions() if word == "ARG" and "=" in rest)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])


def test_multi_stage_with_a_slim_runtime(stages: dict[str, list[tuple[str, str]]]) -> None:
    assert list(stages) == ["builder", "weights", "runtime"]
    runtime = stages["runtime"]
    copies_from = {rest.split()[0] for word, rest in runtime if word == "COPY" and rest.startswith("--from")}
    assert copies_from == {"--from=builder", "--from=weights"}
    assert not any(word == "RUN" and "pip install" in rest for word, rest in runtime)


def test_runtime_runs_as_a_non_root_user(stages: dict[str, list[tuple[str, str]]]) -> None:
    users = [rest for word, rest in stages["runtime"] if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_dependencies_come_from_the_lock(stages: dict[str, list[tuple[str, str]]]) -> None:
    installs = [rest for word, rest in stages["builder"] if word == "RUN" and "pip install" in rest]
    assert installs and all("-c requirements.lock" in rest for rest in installs)


def test_weights_are_fetched_at_build_time_and_never_at_run_time(
    stages: dict[str, list[tuple[str, str]]],
) -> None:
    assert any(word == "RUN" and "fetch_weights.py" in rest for word, rest in stages["weights"])
    env = " ".join(rest for word, rest in stages["runtime"] if word == "ENV")
    assert "HF_HUB_OFFLINE=1" in env
    # The runtime reads the caches where the weights stage wrote them.
    weights_env = " ".join(rest for word, rest in stages["weights"] if word == "ENV")
    for var in ("HF_HOME", "TORCH_HOME"):
        value = re.search(rf"{var}=(\S+)", weights_env)
        assert value and f"{var}={value.group(1)}" in env


def test_copied_sources_exist(stages: dict[str, list[tuple[str, str]]]) -> None:
    for word, rest in (item for stage in stages.values() for item in stage):
        if word == "COPY" and not rest.startswith("--"):
            for source in rest.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY of a missing path: {source}"


def test_every_installed_package_is_copied_into_the_build(stages: dict[str, list[tuple[str, str]]]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {
        rest.split()[0] for word, rest in stages["builder"] if word == "COPY" and not rest.startswith("--")
    }
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def _torch_install_script(stages: dict[str, list[tuple[str, str]]]) -> str:
    (script,) = [rest for word, rest in stages["builder"] if word == "RUN" and "TORCH_VARIANT" in rest]
    return script


@pytest.mark.parametrize(
    ("variant", "wanted", "unwanted"),
    [
        (
            "cpu",
            ["download.pytorch.org/whl/cpu", "torch==2.14.1+cpu", "torchvision==0.29.1+cpu"],
            ["torch==2.14.1 "],
        ),
        ("cuda", ["torch==2.14.1", "torchvision==0.29.1"], ["download.pytorch.org", "+cpu"]),
    ],
)
def test_the_torch_variant_build_arg_picks_the_wheels(
    stages: dict[str, list[tuple[str, str]]], variant: str, wanted: list[str], unwanted: list[str]
) -> None:
    """Run the builder's torch step with `pip` replaced by an echo: the CPU variant must not pull CUDA."""
    assert "TORCH_VARIANT=cuda" in [rest for word, rest in stages["builder"] if word == "ARG"]
    defaults = [rest for word, rest in stages["builder"] if word == "ARG" and "=" in rest]
    prelude = "".join(f"{d.split('=', 1)[0]}={d.split('=', 1)[1]}\n" for d in defaults)
    shell = f'pip() {{ echo "pip $*"; }}\n{prelude}TORCH_VARIANT={variant}\n{_torch_install_script(stages)}\n'
    done = subprocess.run(["sh", "-ec", shell], capture_output=True, text=True, timeout=30, check=True)
    (line,) = done.stdout.splitlines()
    assert "-c requirements.lock" in line
    for text in wanted:
        assert text in line + " ", (variant, line)
    for text in unwanted:
        assert text not in line + " ", (variant, line)


def test_an_unknown_torch_variant_fails_the_build(stages: dict[str, list[tuple[str, str]]]) -> None:
    shell = f'pip() {{ echo "pip $*"; }}\nTORCH_VARIANT=rocm\n{_torch_install_script(stages)}\n'
    done = subprocess.run(["sh", "-ec", shell], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "TORCH_VARIANT" in done.stderr
