"""The Turkish student: a TF DistilBERT (or any BERT-family encoder) + mean pooling + a Dense head, distilled from
cached CLIP ViT-B/32 text vectors by MSE in two stages (head alone, then everything).

Importing this package selects tf-keras for `tf.keras` (transformers' TF models need it); it must run before
TensorFlow is first imported, so import `distill` before `tensorflow`.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["__version__"]
__version__ = "0.1.0"
