"""The core of turkish-clip: what every other package builds on, importing none of them.

Modules: `errors` (one-line user errors), `files` (atomic writes, folder locks), `images` (image loading and
CLIP preprocessing without torchvision), `clip_package` + `clip_towers` (loading CLIP), `metrics` (retrieval,
zero-shot and fidelity numbers, numpy only), `batching` (the one length-sorted batching/encode loop), `models`
(where the models are: flags, environment variables, the current folder, ~/.cache/turkish-clip) and `runtime`
(TensorFlow set-up). Importing the package is cheap and has no side effects.
"""
__all__ = ["__version__"]
__version__ = "0.1.0"
