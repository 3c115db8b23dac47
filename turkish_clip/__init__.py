"""Turkish CLIP at inference time: the distilled Turkish text encoder next to CLIP's own image encoder.

Modules: `models` (where the models are: flags, env vars, defaults), `text_encoder`, `image_encoder`,
`zeroshot` (prompt ensembles, CLIP-scaled probabilities), `search` (cached folder index), `contact_sheet`
(HTML of the top matches) and `smoke` (the whole pipeline on tiny untrained models). The public entry point is
the top-level `inference.py`. Importing this package is cheap: torch and TensorFlow load only when a model does.
"""
import os

from .quiet import quiet_tensorflow

# transformers' TF models need tf-keras, which must be chosen before TensorFlow is first imported; TF's start-up
# lines are hidden (the CLIs' -v shows them).
quiet_tensorflow()

__all__ = ["__version__"]
__version__ = "0.1.0"
