"""Tiny caches for the distill tests: a learnable bag-of-words teacher over Turkish words, written with
data_tools.cache.write_dataset in the real cache layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# Cased Turkish words with every special letter (ç ğ ı İ ö ş ü), so the vocab and tokeniser must keep them.
WORDS = ("kedi köpek çocuk kız oğlan adam kadın İstanbul İzmir şehir sokak masa sandalye ağaç çiçek kuş "
         "balık gökyüzü deniz kırmızı mavi yeşil sarı büyük küçük güzel uzun kısa koşuyor oturuyor yiyor "
         "içiyor bakıyor üzerinde yanında önünde şapka gözlük ışık Ömer Şule Ümit").split()


def bag_corpus(n_images: int = 150, per_image: int = 4, seed: int = 0) -> pd.DataFrame:
    """Captions of 3-7 random WORDS, `per_image` captions per fake image id, with an 'English' side."""
    rng = np.random.default_rng(seed)
    rows = []
    for image in range(n_images):
        for k in range(per_image):
            words = rng.choice(WORDS, size=rng.integers(3, 8), replace=False)
            tr = " ".join(words)
            rows.append({"caption_id": image * 10 + k, "image_id": 1000 + image, "split": "val2017",
                         "en": "EN " + tr, "tr": tr})
    return pd.DataFrame(rows)


def bag_teacher(texts: list[str], dim: int = 16, seed: int = 1) -> np.ndarray:
    """The tiny teacher: a fixed random linear map of each caption's normalised bag of words, [n, dim] float32."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(len(WORDS), dim)).astype(np.float32)
    table -= table.mean(axis=0)  # centred, so unrelated captions are not alike
    index = {w: i for i, w in enumerate(WORDS)}
    out = np.zeros((len(texts), dim), np.float32)
    for row, text in enumerate(texts):
        ids = [index[w] for w in text.split()]
        out[row] = table[ids].mean(axis=0) * 2.0
    return out


def write_cache(folder: Path, table: pd.DataFrame, vectors: np.ndarray, dtype=np.float16) -> Path:
    """A complete cache folder through data_tools.cache.write_dataset (the one writer of the format)."""
    from data_tools.cache import write_dataset

    write_dataset(folder, table, vectors.astype(dtype),
                  teacher_info={"kind": "hf-clip", "model": "tiny-bag-teacher", "normalized": False, "versions": {}, "options": {}},
                  translation_info={"backend": "test", "model": "by-hand", "options": {}})
    return Path(folder)


def bag_cache(folder: Path, n_images: int = 150, per_image: int = 4, dim: int = 16) -> Path:
    table = bag_corpus(n_images, per_image)
    return write_cache(folder, table, bag_teacher(table["tr"].tolist(), dim))


def image_cache(folder: Path, n_images: int = 120, per_image: int = 2, dim: int = 16, logit_scale: float = 30.0,
                seed: int = 3) -> Path:
    """A cache with CLIP-like image vectors: each image has 5 WORDS, each of its captions 3-4 of them; the image
    vector is a fixed random rotation of the bag-of-words teacher vector of all 5 words (so it is known for every
    caption, and not the text teacher's vector: only the image loss can teach it)."""
    from data_tools.cache import write_image_vectors

    rng = np.random.default_rng(seed)
    rows, image_words = [], []
    for image in range(n_images):
        words = rng.choice(WORDS, size=5, replace=False)
        image_words.append(" ".join(words))
        for k in range(per_image):
            tr = " ".join(rng.choice(words, size=rng.integers(3, 5), replace=False))
            rows.append({"caption_id": image * 10 + k, "image_id": 1000 + image, "split": "val2017",
                         "en": "EN " + tr, "tr": tr})
    table = pd.DataFrame(rows)
    write_cache(folder, table, bag_teacher(table["tr"].tolist(), dim))
    rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0].astype(np.float32)  # [dim, dim], orthogonal
    vectors = bag_teacher(image_words, dim) @ rotation  # [n_images, dim]
    write_image_vectors(folder, np.arange(1000, 1000 + n_images), vectors.astype(np.float16),
                        {"model": "tiny-rotated-bag", "logit_scale": logit_scale})
    return Path(folder)
