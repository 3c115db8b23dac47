"""Turkish CLIP at inference time, on top of data_tools and distill: the distilled Turkish text encoder next to
CLIP's own image encoder.

Modules: `text_encoder`, `image_encoder`, `zeroshot` (prompt ensembles, CLIP-scaled probabilities), `prompts`
(the shipped Turkish/English templates), `search` (cached folder index), `contact_sheet` (HTML of the top
matches) and `api` (`TurkishCLIP`, `encode_text`, `encode_image`). The public entry point is the top-level
`inference.py`. Importing this package is cheap: torch and TensorFlow load only when a model does.
"""
from turkish_clip.runtime import setup_tensorflow

setup_tensorflow()  # before anything below imports TensorFlow

__all__ = ["__version__"]
__version__ = "0.1.0"
