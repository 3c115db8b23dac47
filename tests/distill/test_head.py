"""clip_head.h5: monatis/turkish-clip's shape, saved by tf-keras, loads in tf-keras and Keras 3 with equal outputs."""
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

import distill  # noqa: F401
from turkish_clip.errors import InputError
from distill.head import build_head, load_head, save_head

KERAS3 = """
import sys, numpy as np, keras
assert keras.__version__.startswith("3"), keras.__version__
model = keras.models.load_model(sys.argv[1], compile=False)
print("shapes", model.input_shape, model.output_shape)
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
"""


@pytest.fixture(scope="module")
def saved_head(tmp_path_factory):
    head = build_head(768, 512)
    head.layers[-1].set_weights([np.random.default_rng(0).normal(size=(768, 512)).astype(np.float32) * 0.05,
                                 np.linspace(-1, 1, 512).astype(np.float32)])
    path = save_head(head, tmp_path_factory.mktemp("head") / "clip_head.h5")
    return head, path


def test_head_has_the_turkish_clip_shape(saved_head):
    head, path = saved_head
    assert head.input_shape == (None, 768) and head.output_shape == (None, 512)
    assert [type(layer).__name__ for layer in head.layers] == ["Dense"]
    assert path.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"


def test_tf_keras_round_trip_is_exact(saved_head):
    head, path = saved_head
    x = np.random.default_rng(1).normal(size=(4, 768)).astype(np.float32)
    np.testing.assert_array_equal(load_head(path)(x).numpy(), head(x).numpy())


def test_keras3_loads_the_head_with_identical_outputs(saved_head, tmp_path):
    head, path = saved_head
    x = np.random.default_rng(2).normal(size=(4, 768)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run([sys.executable, "-c", KERAS3, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shapes (None, 768) (None, 512)" in done.stdout
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), head(x).numpy(), rtol=1e-6, atol=1e-6)


def test_missing_or_broken_head_file_is_one_clear_line(tmp_path):
    with pytest.raises(InputError, match="does not exist; train one"):
        load_head(tmp_path / "nope.h5")
    (tmp_path / "bad.h5").write_text("not hdf5")
    with pytest.raises(InputError, match="bad.h5 is not a Keras .h5 model"):
        load_head(tmp_path / "bad.h5")


# --- safe loading: a head file is untrusted (a Lambda layer's code runs on legacy .h5 load, whatever safe_mode says)
def _lambda_head(path, marker):
    import tf_keras

    marker = str(marker)
    model = tf_keras.Sequential([
        tf_keras.Input(shape=(8,)),
        tf_keras.layers.Lambda(lambda x: (open(marker, "w").write("pwned"), x)[1]),  # noqa: SIM115
        tf_keras.layers.Dense(4),
    ])
    model.save(path, save_format="h5")
    Path(marker).unlink(missing_ok=True)  # building the model ran the Lambda once; the file must not run it again
    return path


def test_head_with_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "written_by_the_head.txt"
    path = _lambda_head(tmp_path / "evil.h5", marker)
    assert not marker.exists()
    with pytest.raises(InputError, match=r"evil.h5 is not a plain Input -> Dense head \(layer 'Lambda'"):
        load_head(path)
    assert not marker.exists()


def test_monatis_keras26_sequential_layout_loads(tmp_path, saved_head):
    """Keras 2.6 Sequential without an InputLayer: the Dense holds batch_input_shape (monatis' clip_head.h5)."""
    import json

    import h5py

    head, path = saved_head
    copy = tmp_path / "monatis.h5"
    copy.write_bytes(path.read_bytes())
    with h5py.File(copy, "a") as f:
        config = json.loads(f.attrs["model_config"])
        dense = next(x for x in config["config"]["layers"] if x["class_name"] == "Dense")
        dense["config"]["batch_input_shape"] = [None, 768]
        config["config"]["layers"] = [dense]
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.6.0"
    x = np.random.default_rng(3).normal(size=(2, 768)).astype(np.float32)
    np.testing.assert_array_equal(load_head(copy)(x).numpy(), head(x).numpy())


def test_head_with_an_activation_or_extra_dense_is_refused(tmp_path):
    import tf_keras

    tanh = tf_keras.Sequential([tf_keras.Input(shape=(8,)), tf_keras.layers.Dense(4, activation="tanh")])
    two = tf_keras.Sequential([tf_keras.Input(shape=(8,)), tf_keras.layers.Dense(4), tf_keras.layers.Dense(4)])
    save_head(tanh, tmp_path / "tanh.h5"), save_head(two, tmp_path / "two.h5")
    with pytest.raises(InputError, match="activation 'tanh'"):
        load_head(tmp_path / "tanh.h5")
    with pytest.raises(InputError, match="expected one Dense"):
        load_head(tmp_path / "two.h5")


def test_head_attributes_round_trip(tmp_path):
    from distill.head import FINGERPRINT_ATTR, read_head_attrs

    path = save_head(build_head(8, 4), tmp_path / "h.h5", attrs={FINGERPRINT_ATTR: "abc123"})
    assert read_head_attrs(path) == {FINGERPRINT_ATTR: "abc123"}
    assert load_head(path).input_shape == (None, 8)
