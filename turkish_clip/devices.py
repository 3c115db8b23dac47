"""One `--device` for both frameworks: torch (CLIP) gets it directly; TensorFlow (the student) is shown the same
GPU, or none for "cpu". And a warning when torch sees CUDA but TensorFlow does not (a CPU-only TensorFlow wheel:
the student would silently run on the CPU; `pip install -r requirements-gpu.txt` installs tensorflow[and-cuda])."""
from __future__ import annotations

import logging
import re
import sys

from turkish_clip.errors import UserError

log = logging.getLogger(__name__)
GPU_HINT = "install TensorFlow's CUDA build: pip install -r requirements-gpu.txt (tensorflow[and-cuda])"


def parse_device(device: str | None) -> tuple[str, int | None]:
    """("auto", None) for None, ("cpu", None), ("cuda", None) for "cuda"/"gpu", ("cuda", N) for "cuda:N"."""
    if device is None or device == "auto":
        return "auto", None
    match = re.fullmatch(r"(cpu|cuda|gpu)(?::(\d+))?", device.strip().lower())
    if not match:
        raise UserError(f"--device {device!r} is not a device; use cpu, cuda or cuda:N")
    kind, index = match.groups()
    return ("cpu" if kind == "cpu" else "cuda"), (int(index) if index is not None else None)


def apply_tensorflow_device(device: str | None) -> None:
    """Make TensorFlow use what `device` gives torch; call before TensorFlow runs anything (later, it can only warn)."""
    import tensorflow as tf

    kind, index = parse_device(device)
    gpus = tf.config.list_physical_devices("GPU")
    if kind == "cuda" and index is not None and index >= len(gpus):
        log.warning("--device %s: TensorFlow sees %d GPU(s), so the student cannot run on GPU %d; %s", device,
                    len(gpus), index, GPU_HINT if not gpus else "check CUDA_VISIBLE_DEVICES")
    elif kind == "cpu" or (kind == "cuda" and index is not None):
        wanted = [] if kind == "cpu" else [gpus[index]]
        try:
            tf.config.set_visible_devices(wanted, "GPU")
        except RuntimeError:  # TensorFlow already initialised its devices in this process
            if [d.name for d in tf.config.get_visible_devices("GPU")] != [d.name for d in wanted]:
                log.warning("--device %s: TensorFlow was already initialised with GPUs %s; the student stays there",
                            device, [d.name for d in tf.config.get_visible_devices("GPU")])
    if kind != "cpu":
        warn_if_tensorflow_misses_cuda()


def warn_if_tensorflow_misses_cuda() -> bool:
    """Warn (and return True) when torch, already imported, sees CUDA and TensorFlow sees no GPU."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return False
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return False
    log.warning("torch sees %d CUDA GPU(s) but TensorFlow sees none: the Turkish student runs on the CPU; %s",
                torch.cuda.device_count(), GPU_HINT)
    return True
