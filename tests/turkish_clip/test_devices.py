"""--device for both frameworks: parsing, TensorFlow shown the same device, a warning when only torch sees CUDA."""
from __future__ import annotations

import pytest

import distill  # noqa: F401  (tf-keras before TensorFlow)
from turkish_clip.errors import UserError
from turkish_clip import devices


def test_parse_device():
    assert devices.parse_device(None) == ("auto", None)
    assert devices.parse_device("cpu") == ("cpu", None)
    assert devices.parse_device("cuda") == devices.parse_device("GPU") == ("cuda", None)
    assert devices.parse_device("cuda:1") == ("cuda", 1)
    with pytest.raises(UserError, match="--device 'tpu' is not a device; use cpu, cuda or cuda:N"):
        devices.parse_device("tpu")


def test_torch_with_cuda_and_tensorflow_without_warns(monkeypatch, caplog):
    import tensorflow as tf
    import torch

    assert not tf.config.list_physical_devices("GPU")  # this machine: no GPU for either
    assert not devices.warn_if_tensorflow_misses_cuda()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as with a CPU-only TensorFlow wheel on a GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with caplog.at_level("WARNING"):
        assert devices.warn_if_tensorflow_misses_cuda()
        devices.apply_tensorflow_device("cuda")
    assert "torch sees 2 CUDA GPU(s) but TensorFlow sees none" in caplog.text and "requirements-gpu.txt" in caplog.text


def test_a_gpu_tensorflow_cannot_see_is_named(caplog):
    with caplog.at_level("WARNING"):
        devices.apply_tensorflow_device("cuda:3")
    assert "TensorFlow sees 0 GPU(s), so the student cannot run on GPU 3" in caplog.text


def test_cpu_hides_gpus_from_tensorflow():
    import tensorflow as tf

    devices.apply_tensorflow_device("cpu")
    assert tf.config.get_visible_devices("GPU") == []


def test_requirements_gpu_pins_tensorflow_and_cuda():
    from pathlib import Path

    lines = [x for x in (Path(__file__).parents[2] / "requirements-gpu.txt").read_text().splitlines()
             if x and not x.startswith("#")]
    assert "tensorflow[and-cuda]==2.21.0" in lines and "torch==2.13.0" in lines
    requirements = (Path(__file__).parents[2] / "requirements.txt").read_text()
    assert "tensorflow==2.21.0" in requirements  # the GPU file pins the same version
