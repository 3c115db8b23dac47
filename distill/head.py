"""The projection head: one linear Dense(hidden -> teacher dim), built and saved with tf-keras.

Saved as `.h5` by tf-keras it has the monatis/turkish-clip layout (Sequential, Input [None, 768] -> Dense(512)) and
loads in both tf-keras and Keras 3 (a Keras 3 save would not load in tf-keras).

A head file is untrusted input: Keras' legacy `.h5` loader deserialises whatever layers the file names and runs a
`Lambda` layer's code whatever `safe_mode` says. So `load_head` never calls Keras' loader: it reads the model
config with h5py, accepts only the known head layouts (Input -> Dense, as written by us with tf-keras and by
monatis with Keras 2.6), rebuilds the head with `build_head` and copies the weight arrays in.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import tf_keras

from turkish_clip.files import atomic_path
from turkish_clip.errors import InputError

MODEL_CLASSES = ("Sequential", "Functional", "Model")  # Keras 2.6 / tf-keras / Keras 3 names of the container
LAYER_CLASSES = ("InputLayer", "Dense")
FINGERPRINT_ATTR = "turkish_clip_encoder_fingerprint"  # .h5 root attribute: the encoder the head was trained with


def build_head(input_dim: int = 768, output_dim: int = 512, name: str = "clip_head") -> tf_keras.Sequential:
    """Sequential([Input(input_dim), Dense(output_dim)]) in float32 (kept float32 under mixed precision)."""
    return tf_keras.Sequential(
        [tf_keras.Input(shape=(input_dim,), name="pooled"), tf_keras.layers.Dense(output_dim, name="dense", dtype="float32")],
        name=name,
    )


def save_head(head: tf_keras.Model, path: str | Path, attrs: dict[str, str] | None = None) -> Path:
    """Write the head as HDF5, atomically (a killed save leaves the previous file); `attrs` become root attributes
    of the file (e.g. the encoder fingerprint), written before the rename."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, warnings.catch_warnings():  # tmp keeps the .h5 suffix; fsynced before the rename
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy")  # HDF5 is the point: both Keras lines read it
        head.save(tmp, save_format="h5", include_optimizer=False)
        if attrs:
            with h5py.File(tmp, "a") as f:
                for key, value in attrs.items():
                    f.attrs[key] = str(value)
    return path


def read_head_attrs(path: str | Path) -> dict[str, str]:
    """Our string attributes of a head file (empty for monatis' head and older saves)."""
    import h5py

    with h5py.File(path, "r") as f:
        return {k: _text(v) for k, v in f.attrs.items() if k.startswith("turkish_clip_")}


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _refuse(path: Path, why: str) -> InputError:
    return InputError(f"head file {path} is not a plain Input -> Dense head ({why}); refusing to load it: a head "
                      f"file can carry code, use only heads written by `python -m distill train` or monatis/turkish-clip")


def _input_dim(layers: list[dict]) -> int | None:
    for layer in layers:
        config = layer.get("config", {})
        shape = config.get("batch_input_shape") or config.get("batch_shape")
        if shape:
            return int(shape[-1])
    return None


def read_head_layout(path: Path, f) -> tuple[int, dict]:
    """(input dim, Dense config) from an open .h5's model_config, accepting only InputLayer/Dense layouts."""
    raw = f.attrs.get("model_config")
    if raw is None:
        raise _refuse(path, "no model_config: a weights-only file")
    try:
        config = json.loads(_text(raw))
    except json.JSONDecodeError as err:
        raise _refuse(path, f"model_config is not JSON: {err}") from None
    if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES:
        raise _refuse(path, f"model class {config.get('class_name') if isinstance(config, dict) else config!r}")
    layers = (config.get("config") or {}).get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise _refuse(path, "no layer list")
    kinds = [layer.get("class_name") for layer in layers]
    bad = [k for k in kinds if k not in LAYER_CLASSES]
    if bad:
        raise _refuse(path, f"layer {bad[0]!r}; only {' and '.join(LAYER_CLASSES)} are allowed")
    if kinds.count("Dense") != 1 or kinds.count("InputLayer") > 1:
        raise _refuse(path, f"layers {kinds}; expected one Dense, after at most one InputLayer")
    dense = next(x for x in layers if x["class_name"] == "Dense")["config"]
    if dense.get("activation", "linear") != "linear":
        raise _refuse(path, f"Dense activation {dense.get('activation')!r}, expected linear")
    return _input_dim(layers), dense


def _dense_weights(path: Path, f, layer_name: str) -> list[np.ndarray]:
    group = f["model_weights"] if "model_weights" in f else f
    if layer_name not in group:
        raise _refuse(path, f"no weights for layer {layer_name!r}")
    layer = group[layer_name]
    names = [_text(n) for n in layer.attrs.get("weight_names", [])]
    arrays = {name.split("/")[-1].split(":")[0]: np.asarray(layer[name], np.float32) for name in names}
    if "kernel" not in arrays:
        raise _refuse(path, f"layer {layer_name!r} has no kernel")
    return [arrays["kernel"]] + ([arrays["bias"]] if "bias" in arrays else [])


def load_head(path: str | Path) -> tf_keras.Model:
    """Load a head `.h5` (ours or monatis/turkish-clip's) without running anything from the file: its layout is
    checked, the head rebuilt and its weights copied in. Any other layout is a one-line InputError."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"head file {path} does not exist; train one with `python -m distill train` or pass --head")
    try:
        with h5py.File(path, "r") as f:
            input_dim, dense = read_head_layout(path, f)
            weights = _dense_weights(path, f, dense.get("name", "dense"))
    except OSError as err:
        raise InputError(f"head file {path} is not a Keras .h5 model ({type(err).__name__}: {str(err).splitlines()[0][:160]})") from err
    kernel = weights[0]  # [input_dim, units]
    units = int(dense.get("units", kernel.shape[-1]))
    if kernel.ndim != 2 or kernel.shape[1] != units or (input_dim is not None and kernel.shape[0] != input_dim):
        raise _refuse(path, f"kernel shape {kernel.shape} does not match input {input_dim} / units {units}")
    head = build_head(int(kernel.shape[0]), units)
    if len(weights) == 1:  # use_bias=False: an equivalent Dense with a zero bias
        weights.append(np.zeros(units, np.float32))
    if weights[1].shape != (units,):
        raise _refuse(path, f"bias shape {weights[1].shape}, expected ({units},)")
    head.layers[-1].set_weights(weights)
    return head
