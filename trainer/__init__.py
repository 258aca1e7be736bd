"""The trainer: learns from labelled data and moderator feedback, evaluates honestly, promotes.

Modules, one concept each:

- `dataset`       `Example` / `Dataset` and the stable hash split (train / val / test)
- `readers`       MMHS150K layout, CSV (labels or annotator vote counts), JSONL of feedback events
- `metrics`       evaluation in numpy: per-label P/R/F1/ROC-AUC/AP, micro/macro/weighted F1, binary hate view
- `thresholds`    per-label thresholds chosen on the validation split (max F1)
- `features`      on-disk cache of frozen-encoder features, so head-only retraining is fast
- `training`      the loop: soft-target BCE, pos_weight, AdamW + warmup/decay, resumable, deterministic
- `promotion`     the gates (held-out feedback, trusted eval set, label set by name); plain code
- `eval_set`      the trusted evaluation set: read, and kept out of training
- `judge`         one judging of a candidate against one serving version, and the report it writes
- `gate`          promotion as a compare-and-set under the registry lock
- `run`           `train_and_maybe_promote`: the whole offline run, end to end
- `cli`, `evaluate_cli`   the `modstream train` and `modstream evaluate` subcommands

Nothing heavy happens at import time.
"""
