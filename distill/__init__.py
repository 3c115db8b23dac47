"""The Turkish student: a TF DistilBERT (or any BERT-family encoder) + mean pooling + a Dense head, distilled from
cached CLIP ViT-B/32 text vectors by MSE in two stages (head alone, then everything).

Importing this package selects tf-keras for `tf.keras` (transformers' TF models need it); it must run before
TensorFlow is first imported, so import `distill` before `tensorflow`.
"""
from turkish_clip.runtime import setup_tensorflow

setup_tensorflow()

__all__ = ["__version__"]
__version__ = "0.1.0"
