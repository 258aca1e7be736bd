"""The compose service and the install step of the review console."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_compose_review_service_is_published_on_loopback_only() -> None:
    from tests.unit.deploy.compose_env import COMPOSE, load_resolved

    review = load_resolved(COMPOSE)["services"]["review"]
    assert review["command"][:2] == ["modstream", "review"]
    assert review["ports"] == ["127.0.0.1:8088:8088"]
    assert "--no-auth" not in review["command"]
    compile(review["healthcheck"]["test"][3], "healthcheck", "exec")


def test_make_installs_the_browser_only_when_missing_and_ci_calls_it_before_the_tests() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^browser-deps:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "no browser-deps target"
    body = recipe.group(1)
    assert "/usr/bin/chromedriver" in body and "apt-get install -y chromium chromium-driver" in body
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make browser-deps") < ci.index("make test")
