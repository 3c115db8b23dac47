"""Is the Hugging Face hub reachable? Asked once per process, in a few seconds, before any model is downloaded.

Without a network, transformers and huggingface_hub retry every file for tens of seconds and print a warning per
retry. One quick HEAD request to the hub endpoint (honouring HF_ENDPOINT and the proxy variables) decides instead;
when it fails, offline mode is switched on, so models in the local cache still load and missing ones fail at once
with `model_not_found`'s one line. Every loader of a hub id calls `check_hub()` first.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import urllib.request
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 3.0
DEFAULT_ENDPOINT = "https://huggingface.co"
DOWNLOAD_HINT = "hf download {name} --local-dir DIR"  # the one download hint every message gives
_TRUE = ("1", "true", "yes", "on")
_reachable: dict[str, bool] = {}


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")


def offline_requested() -> bool:
    return any(os.environ.get(k, "").lower() in _TRUE for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def download_hint(name: str) -> str:
    return DOWNLOAD_HINT.format(name=name)


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True if `url`'s server answers a HEAD request (any HTTP status) within `timeout` s; cached per host.

    urllib honours HTTP(S)_PROXY/NO_PROXY as requests does; the request runs in a daemon thread so that even a
    hanging DNS lookup cannot hold the caller longer than `timeout`.
    """
    key = _server(url)
    if key not in _reachable:
        answer: list[bool] = []

        def probe() -> None:
            try:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler())  # the proxy variables as now
                opener.open(urllib.request.Request(key, method="HEAD"), timeout=timeout).close()
                answer.append(True)
            except urllib.error.HTTPError:  # the server answered (404, 405, ...): it is reachable
                answer.append(True)
            except (OSError, ValueError) as error:  # refused, timed out, DNS, proxy/tunnel failure, bad URL
                log.debug("%s is unreachable: %s", key, error)
                answer.append(False)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(timeout + 0.5)
        _reachable[key] = bool(answer and answer[0])
    return _reachable[key]


def _server(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _set_offline() -> None:
    """Offline mode for this process, also where huggingface_hub / transformers already read the variable."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "transformers.utils.hub" in sys.modules:
        sys.modules["transformers.utils.hub"]._is_offline_mode = True


def check_hub() -> bool:
    """True if models may be downloaded; else offline mode is on (the local cache still serves)."""
    if offline_requested():
        return False
    if not reachable(endpoint()):
        log.info("the Hugging Face hub (%s) is unreachable: offline mode, only locally cached models load", endpoint())
        _set_offline()
        return False
    return True


def offline_reason() -> str:
    """Why a download was not tried, for error messages ("" when the hub was reachable)."""
    if _reachable.get(_server(endpoint())) is False:
        return f"the Hugging Face hub ({endpoint()}) could not be reached"
    if offline_requested():
        return "offline mode is on (HF_HUB_OFFLINE)"
    return ""
