"""A tiny retrieval set from the shipped demo photos: hand-written captions (Turkish, Hindi, ...) with their English
originals, from turkish_clip/languages/<code>/demo_captions.tsv.

Used by `make smoke`, the tests and the README example. Six images and twelve captions measure nothing about
quality; the set only shows that an evaluation runs end to end (`python -m evaluation retrieval --dataset
captions-tsv --captions <written file>`).
"""
from __future__ import annotations

from pathlib import Path

from inference_api.api import DEMO_IMAGES
from turkish_clip.languages import demo_captions

# (image, Turkish caption, English caption); written by hand, two captions per image (turkish_clip/languages/tr/)
DEMO_CAPTIONS = demo_captions("tr")


def write_demo_captions(path: Path | str, image_dir: Path | str = DEMO_IMAGES, lang: str = "tr") -> Path:
    """captions.tsv (header image, caption, en) with absolute image paths to the demo photos, captions in `lang`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["image\tcaption\ten"] + [f"{Path(image_dir).resolve() / image}\t{text}\t{en}"
                                      for image, text, en in demo_captions(lang)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
