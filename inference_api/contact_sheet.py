"""An HTML contact sheet of search results: one self-contained file, thumbnails embedded as base64 JPEG."""
from __future__ import annotations

import base64
import html
import io
import logging
import os
from pathlib import Path
from typing import Sequence

from PIL import Image

from turkish_clip.errors import InputError
from turkish_clip.images import load_image

log = logging.getLogger(__name__)
THUMB_PX = 256

STYLE = """body{font-family:system-ui,sans-serif;margin:24px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 4px}p.meta{color:#666;margin:0 0 16px;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:14px}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px}
figure img{width:100%;height:200px;object-fit:contain;background:#eee;display:block}
figcaption{font-size:13px;margin-top:6px;word-break:break-all}.score{font-weight:600}
.bar{height:4px;background:#3b82f6;margin-top:4px;border-radius:2px}"""


def thumbnail_data_uri(path: str | os.PathLike, size: int = THUMB_PX) -> str:
    """data:image/jpeg;base64,... of the image shrunk to fit size × size (aspect kept)."""
    image = load_image(path).convert("RGB")
    image.thumbnail((size, size), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render(query: str, results: Sequence[tuple[Path, float]], *, title: str = "turkish-clip search",
           note: str = "") -> str:
    """The HTML page: the query, then one card per result (rank, thumbnail, cosine score, file name)."""
    if not results:
        raise InputError("no results to put on a contact sheet")
    best = max(score for _, score in results)
    low = min(min(score for _, score in results), 0.0)
    cards = []
    for rank, (path, score) in enumerate(results, 1):
        width = max(2.0, 100.0 * (score - low) / (best - low)) if best > low else 100.0  # relative to this page
        cards.append(
            f'<figure><img src="{thumbnail_data_uri(path)}" alt="{html.escape(Path(path).name)}">'
            f'<figcaption><span class="score">#{rank} · {score:.4f}</span> {html.escape(Path(path).name)}'
            f'<div class="bar" style="width:{width:.0f}%"></div></figcaption></figure>')
    meta = f"{len(results)} best matches, cosine similarity" + (f" · {html.escape(note)}" if note else "")
    return (f'<!doctype html><html lang="tr"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>“{html.escape(query)}”</h1><p class=\"meta\">{meta}</p>"
            f'<div class="grid">{"".join(cards)}</div></body></html>\n')


def write_contact_sheet(out_path: str | os.PathLike, query: str, results: Sequence[tuple[Path, float]],
                        **kwargs) -> Path:
    """Write the page to out_path (folders created); returns the path."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render(query, results, **kwargs), encoding="utf-8")
    log.info("wrote contact sheet %s", out_path)
    return out_path
