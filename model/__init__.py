"""The multimodal fusion classifier shared by the consumer and the trainer.

Modules, one concept each:

- `labels`      the label set and multi-hot helpers
- `config`      `ModelConfig` and the `tiny` / `minilm` / `base` presets
- `images`      hardened image decoding: bytes -> (3, 224, 224), one typed `ImageDecodeError`
- `preprocess`  tokenisation, prepared posts, collation into a `ModelBatch` (re-exports `images`)
- `towers`      the image tower (torchvision / tiny CNN) and the text tower (BERT + pooling)
- `network`     `FusionClassifier`: image tower + text tower + head, one sigmoid logit per label
- `checkpoint`  save/load a checkpoint directory (safetensors + JSON, never a pickle)
- `registry`    a directory of versions with an atomically replaced CURRENT pointer
- `durable`     atomic, fsync'd file and directory writes (temp, fsync, rename), shared with the trainer
- `predictor`   a loaded model that scores posts: per-label scores, top-3, flagged
- `synthetic`   a small synthetic multimodal data set whose labels need both modalities

Nothing heavy happens at import time.
"""
