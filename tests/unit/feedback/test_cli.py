"""`modstream train` picks the component: --once is the trainer's offline run, else the feedback service."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from feedback import cli


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_data_without_once_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(parse("--data", "x.csv")) == 2
    assert "--data needs --once" in capsys.readouterr().err


def test_once_goes_to_the_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(cli.offline, "run", lambda args: seen.append(args) or 7)
    args = parse("--once", "--data", "x.csv")
    assert cli.run(args) == 7 and seen == [args] and args.data == Path("x.csv")
