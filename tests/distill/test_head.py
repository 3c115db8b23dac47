"""clip_head.h5: monatis/turkish-clip's shape, saved by tf-keras, loads in tf-keras and Keras 3 with equal outputs."""
import os
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
