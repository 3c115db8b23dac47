"""CLIP's image preprocessing, exactly as openai-clip's `_transform`, in numpy + PIL (no torch, no torchvision).

openai-clip (clip/clip.py) preprocesses with torchvision on a PIL image:
    Resize(n_px, BICUBIC) -> CenterCrop(n_px) -> convert("RGB") -> ToTensor() -> Normalize(CLIP_MEAN, CLIP_STD)
Each step is reproduced below with torchvision's own size and offset arithmetic, so the result is the same
float32 array torchvision would give. Loading and folder listing live here too, so inference, search and the
data tools share one definition of "an image". This module must stay free of torch.
"""
from __future__ import annotations

import logging
import os
import struct
from pathlib import Path
from typing import Iterable, Iterator, Union

import numpy as np
from PIL import Image, ImageOps

from turkish_clip.errors import InputError

log = logging.getLogger(__name__)

CLIP_SIZE = 224  # ViT-B/32 input resolution (model.visual.input_resolution)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"})

ImageInput = Union[str, "os.PathLike[str]", Image.Image]
# What PIL raises for a bad file (UnidentifiedImageError is an OSError; the rest come from plugins' parsers).
# MemoryError and the like are not the file's fault and propagate.
BAD_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error,
                    Image.DecompressionBombError)


def load_image(image: ImageInput, *, exif_transpose: bool = False) -> Image.Image:
    """Open and fully decode an image file (or pass a PIL image through); unreadable files raise InputError.

    exif_transpose=False matches openai-clip, which feeds `Image.open(path)` as stored: a phone photo whose
    EXIF says "rotate 90°" reaches CLIP sideways. Pass True to apply the EXIF orientation first.
    The image keeps its mode (L, P, RGBA, ...): `preprocess` converts to RGB where CLIP does.
    """
    if isinstance(image, Image.Image):
        return _apply_exif(image, "(in-memory PIL image)", exif_transpose)
    path = Path(image)
    if not path.is_file():
        reason = "is a folder, not an image file" if path.is_dir() else "does not exist"
        raise InputError(f"image {path} {reason}; check the path")
    try:
        with Image.open(path) as opened:
            opened.load()  # decode now: truncated or corrupt data fails here, not later inside a batch
            loaded = _apply_exif(opened, path, exif_transpose)
            # copy() detaches the pixels from the file handle (multi-frame files such as GIF keep it open)
            return loaded.copy() if loaded is opened else loaded
    except InputError:
        raise
    except BAD_IMAGE_ERRORS as exc:  # any of these means the same to the user: this file is not a usable image
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise InputError(
            f"image {path} cannot be read ({type(exc).__name__}: {detail}); "
            "it is corrupt, truncated or not an image: replace or remove it"
        ) from exc


def _apply_exif(image: Image.Image, name: object, exif_transpose: bool) -> Image.Image:
    """Apply the EXIF orientation if asked; a malformed EXIF block is the file's fault, so it is an InputError."""
    if not exif_transpose:
        return image
    try:
        return ImageOps.exif_transpose(image)
    except (*BAD_IMAGE_ERRORS, KeyError) as exc:
        raise InputError(f"image {name} has unreadable EXIF orientation data ({type(exc).__name__}: {exc}); "
                         "re-save the image or pass exif_transpose=False") from exc


def resized_size(width: int, height: int, n_px: int = CLIP_SIZE) -> tuple[int, int]:
    """(width, height) after torchvision's Resize(n_px): short side = n_px, long side = int(n_px * long / short)."""
    if width <= 0 or height <= 0:
        raise InputError(f"image has no pixels ({width}x{height})")
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = n_px, int(n_px * long / short)  # torchvision truncates, it does not round
    return (new_short, new_long) if width <= height else (new_long, new_short)


def center_crop_box(width: int, height: int, n_px: int = CLIP_SIZE) -> tuple[int, int, int, int]:
    """PIL crop box (left, top, right, bottom) of torchvision's CenterCrop(n_px) on an image at least n_px square.

    torchvision rounds half-way offsets with Python's round() (half to even): 111 spare pixels give offset 56,
    where transformers' CLIPImageProcessor floors to 55.
    """
    if width < n_px or height < n_px:
        raise ValueError(f"centre crop of {n_px} px needs an image at least that big, got {width}x{height}")
    top = int(round((height - n_px) / 2.0))
    left = int(round((width - n_px) / 2.0))
    return left, top, left + n_px, top + n_px


def preprocess(image: ImageInput, n_px: int = CLIP_SIZE, *, exif_transpose: bool = False,
               convert_first: bool = False) -> np.ndarray:
    """One image (path or PIL) -> float32 [3, n_px, n_px], the array openai-clip's `preprocess` gives.

    CLIP converts to RGB *after* resizing and cropping, so palette ("P") and 1-bit images are resized
    nearest-neighbour (PIL's rule for those modes) and RGBA is resized with premultiplied alpha, then the
    alpha is dropped (no compositing on a background). convert_first=True converts to RGB before resizing
    instead, as transformers' CLIPImageProcessor does; for RGB and grayscale images both orders are identical.
    """
    img = load_image(image, exif_transpose=exif_transpose)
    if convert_first:
        img = img.convert("RGB")
    img = img.resize(resized_size(img.width, img.height, n_px), Image.BICUBIC)  # torchvision Resize on PIL
    img = img.crop(center_crop_box(img.width, img.height, n_px))
    pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)  # [n_px, n_px, 3]
    # ToTensor: HWC uint8 -> CHW float32 / 255; Normalize: (x - mean) / std, all in float32 as torch does it
    x = pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)  # [3, n_px, n_px]
    mean = np.asarray(CLIP_MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(CLIP_STD, dtype=np.float32)[:, None, None]
    return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


def preprocess_batch(images: Iterable[ImageInput], n_px: int = CLIP_SIZE, *, exif_transpose: bool = False,
                     convert_first: bool = False) -> np.ndarray:
    """Many images -> float32 [n, 3, n_px, n_px] in input order; an empty input gives [0, 3, n_px, n_px].

    The first unreadable image raises InputError naming it; callers that should skip bad files (folder
    search) load each one with `load_image` first and keep the ones that succeed.
    """
    arrays = [preprocess(img, n_px, exif_transpose=exif_transpose, convert_first=convert_first) for img in images]
    if not arrays:
        return np.zeros((0, 3, n_px, n_px), dtype=np.float32)
    return np.stack(arrays)  # [n, 3, n_px, n_px]


def is_image_file(path: ImageInput) -> bool:
    """True when the file name has an image extension (jpg, jpeg, png, webp, bmp, gif; any case)."""
    return not isinstance(path, Image.Image) and Path(path).suffix.lower() in IMAGE_EXTENSIONS


def iter_image_files(folder: ImageInput, *, recursive: bool = False) -> Iterator[Path]:
    """Image files in `folder` (sorted by relative path), chosen by extension; hidden files and folders skipped.

    Contents are not opened here: a corrupt file with an image extension is listed and fails in `load_image`.
    Hidden names (".git", macOS "._photo.jpg" resource forks) are skipped. A missing folder raises InputError
    at once; an empty result is the caller's to report.
    """
    root = Path(folder)
    if not root.is_dir():
        reason = "is a file, not a folder" if root.exists() else "does not exist"
        raise InputError(f"image folder {root} {reason}; pass a folder that contains images")
    found: list[tuple[str, Path]] = []
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")] if recursive else []
        for name in filenames:
            path = Path(dirpath) / name
            if name.startswith(".") or not is_image_file(path) or not path.is_file():
                skipped += 1
                continue
            found.append((path.relative_to(root).as_posix(), path))
    log.debug("%s: %d image files, %d other files skipped", root, len(found), skipped)
    return iter([path for _, path in sorted(found)])
