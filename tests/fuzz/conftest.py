"""Hypothesis profiles of the fuzz suite, chosen with MODSTREAM_FUZZ_PROFILE:

    fast   (default; `make test`)   FAST_EXAMPLES examples per target, seconds
    fuzz   (`make fuzz`)            FUZZ_EXAMPLES examples per target, minutes

No deadline (a 1 MB message is slow on a busy machine, and a slow example is not a bug here) and no
example database (nothing is written into the worktree); a failure prints the seed to reproduce it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FAST_EXAMPLES = 300
FUZZ_EXAMPLES = 10_000

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
}
settings.register_profile("fast", max_examples=FAST_EXAMPLES, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("MODSTREAM_FUZZ_PROFILE", "fast"))
