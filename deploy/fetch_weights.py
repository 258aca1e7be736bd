"""Build-time step of deploy/Dockerfile: download the pretrained `base` weights into the image.

    HF_HOME=/opt/modstream/cache/huggingface TORCH_HOME=/opt/modstream/cache/torch \
        python deploy/fetch_weights.py --cache /opt/modstream/cache

Fetches bert-base-uncased (model + tokenizer) into the Hugging Face cache and ResNet-18 IMAGENET1K_V1
into the torch hub cache, the two places `ModelConfig.base()` reads them from. Then it builds the
`base` network in a child process with the hub switched off (HF_HUB_OFFLINE=1), so a build that
would need the network at run time fails here instead of in production.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

TEXT_MODEL = "bert-base-uncased"
IMAGE_WEIGHTS = "IMAGENET1K_V1"

_OFFLINE_CHECK = """
from model.config import ModelConfig
from model.network import FusionClassifier
net = FusionClassifier(ModelConfig.base(), pretrained=True)
print(f"offline load ok: image_dim={net.image_dim} text_dim={net.text_dim}")
"""


def download(cache: Path) -> None:
    from torchvision.models import ResNet18_Weights
    from transformers import AutoModel, AutoTokenizer

    AutoTokenizer.from_pretrained(TEXT_MODEL)
    AutoModel.from_pretrained(TEXT_MODEL)
    ResNet18_Weights[IMAGE_WEIGHTS].get_state_dict(progress=False)
    files = [p for p in cache.rglob("*") if p.is_file()]
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"cached {len(files)} files, {size_mb:.0f} MB under {cache}")


def check_offline() -> None:
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", _OFFLINE_CHECK], env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, required=True, help="root of HF_HOME and TORCH_HOME")
    parser.add_argument("--skip-check", action="store_true", help="download only")
    args = parser.parse_args(argv)
    for var in ("HF_HOME", "TORCH_HOME"):
        if not os.environ.get(var, "").startswith(str(args.cache)):
            parser.error(f"{var} must point inside --cache {args.cache} (it is {os.environ.get(var)!r})")
    download(args.cache)
    if not args.skip_check:
        check_offline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
