"""Images -> CLIP space with CLIP's own image tower (ViT-B/32 by default), L2-normalised.

Pixels are prepared by `turkish_clip.images` exactly as openai-clip's `preprocess` does (no torchvision); the
tower comes from `turkish_clip.clip_towers.load_clip` (OpenAI name/.pt or Hugging Face CLIP id/folder).
"""
from __future__ import annotations

import logging
import math
import os
from typing import Sequence

import numpy as np

from turkish_clip.errors import InputError, ModelNotFoundError, UserError
from turkish_clip.images import ImageInput, preprocess_batch

from turkish_clip.models import ENV_CLIP, resolve_clip, with_hint
from inference_api.text_encoder import l2_normalize

log = logging.getLogger(__name__)
CLIP_LOGIT_SCALE = 100.0  # exp(logit_scale) of OpenAI's released checkpoints (clamped there in training)


def check_images(images) -> list:
    """A list of image paths or PIL images (one path or one PIL image becomes a list of one); anything else is an
    InputError naming the item, before any model loads (as `check_texts` for texts)."""
    if isinstance(images, (str, bytes, os.PathLike)) or hasattr(images, "getpixel"):
        images = [images]  # one path or one PIL image
    if images is None or isinstance(images, bytes) or not hasattr(images, "__iter__"):
        raise InputError(f"images must be image paths or PIL images, got {type(images).__name__}")
    images = list(images)
    for i, image in enumerate(images):
        if not isinstance(image, (str, os.PathLike)) and not hasattr(image, "getpixel"):
            raise InputError(f"image #{i} is {type(image).__name__}, not a path or a PIL image: {image!r:.80}")
    return images


class ImageEncoder:
    """A loaded CLIP (`OpenAIClip` or `HFClip`); `encode` gives L2-normalised float32 [n, dim]."""

    def __init__(self, clip, batch_size: int = 32):
        self.clip = clip
        self.batch_size = batch_size
        self.dim = int(clip.dim)
        self.resolution = int(clip.input_resolution)
        self.model_id = str(clip.model_id)

    @classmethod
    def load(cls, clip: str | None = None, *, device=None, fp16: bool | None = None, batch_size: int = 32) -> ImageEncoder:
        """Resolve (flag, $TURKISH_CLIP_CLIP, ViT-B/32) and load CLIP; a missing model is one line naming the fix."""
        from turkish_clip.clip_towers import load_clip

        name = resolve_clip(clip)
        try:
            return cls(load_clip(name, device=device, fp16=fp16), batch_size=batch_size)
        except ModelNotFoundError as error:
            raise with_hint(error, "--clip", ENV_CLIP) from None

    @property
    def logit_scale(self) -> float:
        """exp(logit_scale) of the checkpoint: the temperature CLIP multiplies cosines by before the softmax."""
        parameter = getattr(self.clip.model, "logit_scale", None)
        if parameter is None:
            return CLIP_LOGIT_SCALE
        value = float(parameter.detach().float().exp().cpu())
        return value if math.isfinite(value) and value > 0 else CLIP_LOGIT_SCALE

    def pixels(self, images: Sequence[ImageInput]) -> np.ndarray:
        """CLIP-preprocessed float32 [n, 3, R, R]; the first unreadable image raises InputError naming it."""
        return preprocess_batch(images, self.resolution)

    def encode(self, images: ImageInput | Sequence[ImageInput], batch_size: int | None = None,
               normalize: bool = True) -> np.ndarray:
        """Paths or PIL images -> float32 [n, dim] in input order; [] gives [0, dim]."""
        images = check_images(images)
        batch_size = batch_size or self.batch_size
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        out = np.zeros((len(images), self.dim), np.float32)  # [n, dim]
        for start in range(0, len(images), batch_size):
            pixels = self.pixels(images[start:start + batch_size])  # [b, 3, R, R]
            out[start:start + len(pixels)] = self.encode_pixels(pixels, normalize=False)
        return l2_normalize(out) if normalize else out

    def encode_pixels(self, pixels: np.ndarray, normalize: bool = True) -> np.ndarray:
        """Preprocessed float32 [b, 3, R, R] -> float32 [b, dim] (one forward pass)."""
        import torch

        if len(pixels) == 0:
            return np.zeros((0, self.dim), np.float32)
        vectors = self.clip.encode_image(torch.from_numpy(np.ascontiguousarray(pixels))).cpu().numpy()
        return l2_normalize(vectors) if normalize else vectors.astype(np.float32)
