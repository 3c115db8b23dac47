"""`python inference.py serve`: a local web page for Turkish image search over one folder (Flask).

The folder is indexed once at start (the cached `search.index_folder` index: only new or changed files are
embedded). The page asks the JSON API below; images are served only when their relative path is in the index,
so no path outside the folder (../, absolute, symlinked names not indexed) can be read. Bad requests get a JSON
error message naming the problem, never a stack trace. Page assets ship in inference_api/web/.

  GET /                         the page           GET /api/info                  folder, image count, models
  GET /api/search?q=..&top=N    best matches       GET /api/classify?labels=a,b   per-image label probabilities
  GET /image/<indexed path>     one image file
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from turkish_clip.errors import InputError, UserError

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent / "web"
MAX_TOP = 200
MAX_LABELS = 50
MAX_QUERY_CHARS = 500


class BadRequest(InputError):
    """A request the page (or a user's URL) got wrong: answered 400 with the message."""


def _int_arg(args, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def _query(args) -> str:
    query = (args.get("q") or "").strip()
    if not query:
        raise BadRequest("the search query is empty; type a Turkish description, e.g. kumsalda gün batımı")
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequest(f"the search query is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
    return query


def _labels(args) -> list[str]:
    from .zeroshot import check_labels

    raw = args.get("labels") or ""
    labels = [label.strip() for label in raw.split(",")]
    if not raw.strip():
        raise BadRequest("no labels given; type at least two comma-separated Turkish labels, e.g. kedi, köpek, roket")
    if len(labels) > MAX_LABELS:
        raise BadRequest(f"{len(labels)} labels given; use at most {MAX_LABELS}")
    try:
        return check_labels(labels)
    except InputError as error:
        raise BadRequest(str(error).replace("--labels kedi köpek", "kedi, köpek")) from None


def create_app(model, index, *, templates=None, default_top: int = 12):
    """The Flask app over an `ImageIndex` and a `TurkishCLIP`-like model (encode_text, logit_scale, text.source).

    Model calls are serialised with a lock: one TensorFlow/ONNX session, requests from several threads."""
    from flask import Flask, jsonify, request, send_file, send_from_directory
    from werkzeug.exceptions import HTTPException

    from .zeroshot import TEMPLATES, label_vectors, probabilities

    templates = TEMPLATES if templates is None else templates
    app = Flask(__name__, static_folder=None)
    app.json.ensure_ascii = False
    lock = threading.Lock()
    indexed = {path: i for i, path in enumerate(index.paths)}
    folder = Path(index.folder).resolve()

    def image_entry(i: int, **extra) -> dict:
        path = index.paths[i]
        return {"path": path, "url": f"/image/{path}", **extra}

    @app.errorhandler(UserError)
    def user_error(error):
        return jsonify(error=str(error)), 400

    @app.errorhandler(HTTPException)
    def http_error(error):
        messages = {404: "not found: only the page, /api/... and the indexed images are served",
                    405: "method not allowed: use GET"}
        return jsonify(error=messages.get(error.code, error.description)), error.code

    @app.errorhandler(Exception)
    def internal_error(error):
        log.exception("request %s failed", request.path)
        return jsonify(error=f"internal error ({type(error).__name__}); see the server's log"), 500

    @app.get("/")
    def page():
        return send_from_directory(WEB, "index.html")

    @app.get("/static/<name>")
    def static_file(name: str):
        if name not in {"app.js", "style.css"}:
            raise BadRequest(f"no such page asset: {name}")
        return send_from_directory(WEB, name)

    @app.get("/api/info")
    def info():
        source = getattr(getattr(model, "text", None), "source", {}) or {}
        return jsonify(folder=folder.name, images=len(index.paths), skipped=len(index.skipped),
                       text_model=source.get("model"), text_format=source.get("format"), default_top=default_top)

    @app.get("/api/search")
    def search():
        query = _query(request.args)
        top = _int_arg(request.args, "top", default_top, 1, MAX_TOP)
        with lock:
            vector = model.encode_text([query])[0]  # [dim]
        results = index.search(vector, top)
        return jsonify(query=query, results=[image_entry(indexed[Path(p).relative_to(index.folder).as_posix()],
                                                         score=round(s, 4)) for p, s in results])

    @app.get("/api/classify")
    def classify():
        labels = _labels(request.args)
        with lock:
            texts = label_vectors(model.encode_text, labels, templates)  # [k, dim]
            scale = float(model.logit_scale)
        probs = probabilities(index.vectors, texts, scale)  # [n, k]
        order = np.argsort(-probs.max(axis=1), kind="stable")  # most confident first
        images = [image_entry(int(i), probs=[round(float(p), 4) for p in probs[i]], best=labels[int(probs[i].argmax())])
                  for i in order[:MAX_TOP]]
        return jsonify(labels=labels, images=images, total=len(index.paths))

    @app.get("/image/<path:name>")
    def image(name: str):
        if name not in indexed:  # only what the index holds: no ../, no absolute paths, no other files
            return jsonify(error=f"{name!r} is not an indexed image of this folder"), 404
        return send_file(folder / index.paths[indexed[name]], max_age=3600)

    return app


def serve(model, folder, *, host: str = "127.0.0.1", port: int = 8000, index_path=None, recursive: bool = False,
          progress: bool = True, top: int = 12) -> None:
    """Index the folder (progress bar on first start), then serve until interrupted."""
    from werkzeug.serving import make_server

    model.check_models()
    index = model.index(folder, index_path=index_path, recursive=recursive, progress=progress)
    app = create_app(model, index, default_top=top)
    try:
        server = make_server(host, port, app, threaded=True)
    except (OSError, SystemExit) as error:  # werkzeug exits on "address in use" after logging why
        reason = getattr(error, "strerror", None) or "address in use or not available"
        raise InputError(f"cannot listen on {host}:{port} ({reason}); choose another --port "
                         f"(0 picks a free one)") from None
    print(f"serving {len(index.paths)} images of {folder} at http://{host}:{server.port}/ (Ctrl+C stops)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach this machine can search and view the folder", host)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
