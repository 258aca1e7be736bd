"""`model.synthetic`'s posts written to disk as a `Dataset` (images as PNG files), for tests and demos.

>>> ds = synthetic_dataset(Path("/tmp/syn"), n=600, seed=1)
>>> ds.labels
('NotHate', 'Racist', 'Sexist', 'Homophobe', 'Religion', 'OtherHate')
"""

from __future__ import annotations

from pathlib import Path

from model.labels import DEFAULT_BENIGN, DEFAULT_LABELS, multi_hot
from model.synthetic import make_synthetic
from trainer.dataset import Dataset, Example


def synthetic_dataset(directory: Path, n: int, seed: int = 0, image_side: int = 48) -> Dataset:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    examples = []
    for i, (text, png, names) in enumerate(make_synthetic(n, seed=seed, image_side=image_side)):
        path = directory / f"{seed}-{i}.png"
        if not path.exists():
            path.write_bytes(png)
        targets = tuple(multi_hot(names, DEFAULT_LABELS, DEFAULT_BENIGN))
        examples.append(Example(key=f"syn-{seed}-{i}", text=text, image_path=path, targets=targets))
    return Dataset(labels=DEFAULT_LABELS, benign_label=DEFAULT_BENIGN, examples=examples)
