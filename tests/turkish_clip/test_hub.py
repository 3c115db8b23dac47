"""The hub probe: an unreachable hub is detected once and quickly, offline mode takes over, and every tool fails in
one untruncated line with the one download hint. The unreachable hub is simulated by proxy variables pointing at a
closed port on 127.0.0.1 (nothing leaves the machine)."""
from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading

import pytest

from turkish_clip import hub
from turkish_clip.errors import model_not_found
from tests.conftest import REPO, SAMPLES


def closed_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_env(tmp_path) -> dict:
    """No offline switch, an empty HF cache, and every proxy pointing at a closed local port."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "NO_PROXY", "no_proxy")}
    env.update(HTTPS_PROXY=proxy, HTTP_PROXY=proxy, https_proxy=proxy, http_proxy=proxy, HF_HOME=str(tmp_path / "hf"),
               PYTHONPATH=str(REPO))
    return env


@pytest.fixture
def fresh_probe(monkeypatch):
    monkeypatch.setattr(hub, "_reachable", {})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield
    os.environ["HF_HUB_OFFLINE"] = "1"  # the test session stays offline (conftest), whatever the probe set


def test_a_closed_proxy_makes_the_hub_unreachable_and_switches_offline_mode(fresh_probe, monkeypatch):
    import huggingface_hub.constants

    proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    assert hub.check_hub() is False
    assert os.environ["HF_HUB_OFFLINE"] == "1" and huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert hub.offline_reason() == "the Hugging Face hub (https://huggingface.co) could not be reached"
    message = str(model_not_found("student encoder", "dbmdz/x", "Download it (`hf download dbmdz/x --local-dir DIR`)."))
    assert "could not be reached" in message and message.endswith("--local-dir DIR`).")


def test_a_server_that_answers_is_reachable_whatever_the_status(fresh_probe, monkeypatch):
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert hub.check_hub() is True and hub.offline_reason() == ""
    finally:
        server.shutdown()


def test_the_cause_is_never_cut():
    cause = OSError("x" * 400 + " the end of the first line\nsecond line")
    message = str(model_not_found("translation model", "./folder", "Pass DIR.", cause))
    assert "x" * 400 + " the end of the first line)" in message and "second line" not in message


def _assert_one_line_error(done: subprocess.CompletedProcess, *expected: str) -> str:
    err = done.stderr.strip()
    assert done.returncode == 2, err[-3000:]
    assert len(err.splitlines()) == 1, err[-3000:]  # no retry warnings, no traceback: the error alone
    assert err.startswith("error: ") and "could not be reached" in err and "Retry" not in err
    for text in expected:
        assert text in err
    return err


def test_translate_without_a_network_fails_at_once_in_one_line(tmp_path):
    from data_tools.pipeline import build_captions

    build_captions(tmp_path / "data", [SAMPLES / "coco_captions_val2017_sample.json"], limit=10)
    done = subprocess.run([sys.executable, "-m", "data_tools", "translate", "--data-dir", str(tmp_path / "data")],
                          cwd=tmp_path, env=unreachable_env(tmp_path), capture_output=True, text=True, timeout=300)
    _assert_one_line_error(done, "'Helsinki-NLP/opus-mt-tc-big-en-tr'",
                           "`hf download Helsinki-NLP/opus-mt-tc-big-en-tr --local-dir DIR`", "--model DIR")


def test_inference_with_a_hub_encoder_without_a_network_is_one_whole_line(tmp_path, tiny_clip512_pt):
    head = tmp_path / "clip_head.h5"
    head.write_bytes(b"checked for existence only; the encoder fails first")
    done = subprocess.run([sys.executable, str(REPO / "inference.py"), "--model", "mys/distilbert-base-turkish-cased-clip",
                           "--head", str(head), "--clip", str(tiny_clip512_pt)], cwd=tmp_path,
                          env=unreachable_env(tmp_path), capture_output=True, text=True, timeout=300)
    err = _assert_one_line_error(done, "`hf download mys/distilbert-base-turkish-cased-clip --local-dir DIR`")
    assert err.endswith("run `make smoke` (tiny untrained models).")  # the whole message, not cut mid-word


@pytest.mark.slow
def test_distill_train_without_a_network_fails_at_once_in_one_line(tmp_path):
    from tests.distill.helpers import bag_cache

    bag_cache(tmp_path / "data", n_images=10)
    done = subprocess.run([sys.executable, "-m", "distill", "train", "--data", str(tmp_path / "data"),
                           "--run-dir", str(tmp_path / "run")], cwd=tmp_path, env=unreachable_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and err[-1].startswith("error: "), done.stderr[-3000:]
    assert "`hf download dbmdz/distilbert-base-turkish-cased --local-dir DIR`" in err[-1]
    assert not [line for line in err if "Retry" in line or "WARNING" in line], err
