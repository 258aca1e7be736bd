"""Resumable training state in `work_dir`: weights, optimizer, epoch/step and RNG, without pickle.

    state/<run_id>/
      progress.json          {"run_id", "epoch", "step", "param_groups": [...], "optimizer_scalars": {...}}
      model.safetensors      the model's full state dict
      optimizer.safetensors  AdamW moments, "state.<param index>.<name>"
      rng.safetensors        torch CPU (and CUDA) generator states

Written after each epoch into a temp directory, then renamed over the previous one, so a crash
leaves either the old state or the new one, never half of each. `run_id` digests the data, the model
config and the training config: a restart with anything different starts over.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from model import durable


@dataclass(frozen=True)
class Progress:
    epoch: int  # epochs finished
    step: int  # optimizer steps taken


def state_dir(work_dir: Path, run_id: str) -> Path:
    return Path(work_dir) / "state" / run_id


def save_state(
    work_dir: Path, run_id: str, model: nn.Module, optimizer: torch.optim.Optimizer, progress: Progress
) -> Path:
    final = state_dir(work_dir, run_id)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / "model.safetensors"))
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, entry in opt["state"].items():
        for name, value in entry.items():
            key = f"state.{index}.{name}"
            if isinstance(value, torch.Tensor):
                tensors[key] = value.detach().cpu().contiguous()
            else:
                scalars[key] = value
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            rng[f"cuda.{i}"] = s
    save_file(rng, str(tmp / "rng.safetensors"))
    meta = {
        "run_id": run_id,
        "epoch": progress.epoch,
        "step": progress.step,
        "param_groups": opt["param_groups"],
        "optimizer_scalars": scalars,
    }
    (tmp / "progress.json").write_text(json.dumps(meta, indent=1, default=list))
    durable.replace_dir(tmp, final, fsync=False)  # leaves <final>.old if it crashes mid-swap
    return final


def load_state(
    work_dir: Path, run_id: str, model: nn.Module, optimizer: torch.optim.Optimizer
) -> Progress | None:
    """Restore a saved state into model and optimizer; None when there is none for this run_id."""
    directory = state_dir(work_dir, run_id)
    if not (directory / "progress.json").is_file():
        old = directory.with_name(directory.name + durable.OLD_SUFFIX)  # crashed between the two renames
        if not (old / "progress.json").is_file():
            return None
        directory = old
    meta = json.loads((directory / "progress.json").read_text())
    if meta.get("run_id") != run_id:
        return None
    device = next(iter(model.parameters())).device
    model.load_state_dict(load_file(str(directory / "model.safetensors"), device=str(device)))
    moments = load_file(str(directory / "optimizer.safetensors"), device=str(device))
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(moments.items()) + list(meta["optimizer_scalars"].items()):
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for entry in state.values():
        if "step" in entry and isinstance(entry["step"], torch.Tensor):
            entry["step"] = entry["step"].cpu()  # AdamW keeps `step` on the CPU unless capturable
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    rng = load_file(str(directory / "rng.safetensors"))
    torch.set_rng_state(rng["cpu"])
    if torch.cuda.is_available():
        cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda.")]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    return Progress(epoch=int(meta["epoch"]), step=int(meta["step"]))


def clear_state(work_dir: Path, run_id: str) -> None:
    shutil.rmtree(state_dir(work_dir, run_id), ignore_errors=True)
