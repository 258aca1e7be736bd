"""The generated docs (JSON Schemas, configuration reference, .env.example) match the code."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from events.schemas import EVENT_SCHEMAS, Post
from events.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "gen_docs.py"


@pytest.fixture(scope="module")
def gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_docs"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_committed_docs_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_check_notices_a_stale_file(gen_docs: ModuleType, tmp_path: Path) -> None:
    assert gen_docs.stale(tmp_path) == list(gen_docs.outputs())
    gen_docs.write(tmp_path)
    assert gen_docs.stale(tmp_path) == []
    target = tmp_path / "docs" / "configuration.md"
    target.write_text(target.read_text() + "edited by hand\n")
    assert gen_docs.stale(tmp_path) == [Path("docs/configuration.md")]


def test_one_schema_per_event_and_it_describes_the_model(gen_docs: ModuleType) -> None:
    schemas = {name: json.loads(text) for name, text in gen_docs.render_schemas().items()}
    assert set(schemas) == {f"{name}.schema.json" for name in EVENT_SCHEMAS}
    post = schemas["post.schema.json"]
    assert post["required"] == ["post_id"]
    assert set(post["properties"]) == set(Post.model_fields)
    result = schemas["result.schema.json"]
    assert {"post_id", "labels", "scores", "flagged", "model_version", "image_status"} <= set(
        result["required"]
    )


def test_every_setting_is_documented_with_its_default(gen_docs: ModuleType) -> None:
    text = gen_docs.render_configuration(gen_docs.setting_vars())
    defaults = Settings(_env_file=None)
    assert "| `MODSTREAM_KAFKA__BOOTSTRAP_SERVERS` | `str` | `localhost:9092` |" in text
    assert f"`MODSTREAM_BATCH__MAX_SIZE` | `int` | `{defaults.batch.max_size}`" in text
    assert "| `MODSTREAM_DEVICE` |" in text
    for section, model in Settings.model_fields.items():
        annotation = model.annotation
        for field in getattr(annotation, "model_fields", {}):
            assert f"`MODSTREAM_{section.upper()}__{field.upper()}`" in text


def test_env_example_values_round_trip_through_settings(gen_docs: ModuleType) -> None:
    """Uncommenting every line of .env.example (the defaults) gives the default Settings."""
    env = {}
    for var in gen_docs.setting_vars():
        if var.default != "":
            env[var.name] = var.default
    loaded = Settings(_env_file=None)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        from_env = Settings(_env_file=None)
    assert from_env == loaded
