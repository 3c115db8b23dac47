"""The projection head: one linear Dense(hidden -> teacher dim), built and saved with tf-keras.

Saved as `.h5` by tf-keras it has the monatis/turkish-clip layout (Sequential, Input [None, 768] -> Dense(512)) and
loads in both tf-keras and Keras 3 (a Keras 3 save would not load in tf-keras).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import tf_keras

from turkish_clip.files import atomic_path
from turkish_clip.errors import InputError


def build_head(input_dim: int = 768, output_dim: int = 512, name: str = "clip_head") -> tf_keras.Sequential:
    """Sequential([Input(input_dim), Dense(output_dim)]) in float32 (kept float32 under mixed precision)."""
    return tf_keras.Sequential(
        [tf_keras.Input(shape=(input_dim,), name="pooled"), tf_keras.layers.Dense(output_dim, name="dense", dtype="float32")],
        name=name,
    )


def save_head(head: tf_keras.Model, path: str | Path) -> Path:
    """Write the head as HDF5, atomically (a killed save leaves the previous file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, warnings.catch_warnings():  # tmp keeps the .h5 suffix
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy")  # HDF5 is the point: both Keras lines read it
        head.save(tmp, save_format="h5", include_optimizer=False)
    return path


def load_head(path: str | Path) -> tf_keras.Model:
    """Load a head `.h5` (ours or monatis/turkish-clip's) with tf-keras."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"head file {path} does not exist; train one with `python -m distill train` or pass --head")
    try:
        return tf_keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as err:
        raise InputError(f"head file {path} is not a Keras .h5 model ({type(err).__name__}: {str(err).splitlines()[0][:160]})") from err
