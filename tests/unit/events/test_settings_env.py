"""Settings checked by name: misspelt variables refused with the closest valid name, invalid values named."""

from __future__ import annotations

import pytest

from events.exits import InvalidSetting
from events.settings_env import load_settings, unknown_variable

UNKNOWN = [
    # (environment, expected complaint or None)
    ({"MODSTREAM_KAFKA__BOOTSTRAP_SERVER": "x"}, "did you mean MODSTREAM_KAFKA__BOOTSTRAP_SERVERS?"),
    ({"modstream_kafka__bootstrap_server": "x"}, "did you mean MODSTREAM_KAFKA__BOOTSTRAP_SERVERS?"),
    ({"MODSTREAM_DEVIC": "cpu"}, "did you mean MODSTREAM_DEVICE?"),
    ({"MODSTREAM_NOSUCH__THING": "1"}, "unknown setting MODSTREAM_NOSUCH__THING; see docs/configuration.md"),
    ({"MODSTREAM_KAFKA__BOOTSTRAP_SERVERS": "x", "MODSTREAM_DEVICE": "cpu"}, None),
    ({"MODSTREAM_KAFKA": "{}", "MODSTREAM_LOG__JSON_FORMAT": "true"}, None),  # a whole section as JSON
    ({"MODSTREAM_KAFKA__EXTRA__SOCKET_KEEPALIVE_ENABLE": "true"}, None),  # a key of a mapping setting
    ({"MODSTREAM_TEST_BOOTSTRAP": "x", "MODSTREAM_FUZZ_PROFILE": "ci"}, None),  # other tools' variables
    ({"MODSTREAM_TEST_REDIS_URL": "x", "MODSTREAM_BENCH_REDIS": "x"}, None),
    ({"MODSTREAM_TEST_ONLY_KILL_STAGE": "prep:3", "MODSTREAM_DAVIDSON_SUBSET": "1"}, None),
    ({"PATH": "/bin"}, None),
]


@pytest.mark.parametrize(("environ", "expected"), UNKNOWN)
def test_unknown_variables(environ: dict[str, str], expected: str | None) -> None:
    complaint = unknown_variable(environ)
    if expected is None:
        assert complaint is None
    else:
        assert complaint is not None and complaint.endswith(expected)


INVALID = [
    (
        {"MODSTREAM_METRICS__PORT": "abc"},
        "invalid setting MODSTREAM_METRICS__PORT='abc': Input should be a valid",
    ),
    (
        {"MODSTREAM_METRICS__PORT": "70000"},
        "MODSTREAM_METRICS__PORT='70000': Input should be less than 65536",
    ),
    ({"MODSTREAM_DEVICE": "tpu"}, "MODSTREAM_DEVICE='tpu': Input should be 'auto', 'cpu' or 'cuda'"),
    ({"MODSTREAM_FETCH__ALLOW_HOSTS": "[oops"}, "MODSTREAM_FETCH__ALLOW_HOSTS='[oops': must be JSON"),
    (
        {"MODSTREAM_KAFKA__SASL_PASSWORD": "x", "MODSTREAM_KAFKA__SASL_MECHANISM": "NOPE"},
        "SASL_MECHANISM='NOPE'",
    ),
    ({"MODSTREAM_REVIEW__USERS": "[1]"}, "invalid setting MODSTREAM_REVIEW__USERS: "),  # a secret: not echoed
]


@pytest.mark.parametrize(("environ", "expected"), INVALID)
def test_invalid_values_name_the_variable(
    environ: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSetting) as caught:
        load_settings()
    line = str(caught.value)
    assert expected in line and "\n" not in line
    assert "[1]" not in line
