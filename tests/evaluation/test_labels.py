"""The shipped label lists: complete, unique and in canonical order."""
from __future__ import annotations

import pytest

from turkish_clip.errors import InputError
from evaluation.labels import class_names

CIFAR10_EN = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_cifar10_names_in_canonical_order():
    assert class_names("cifar10", "en") == CIFAR10_EN
    tr = class_names("cifar10", "tr")
    assert len(tr) == 10 and len(set(tr)) == 10
    assert tr[:4] == ["uçak", "otomobil", "kuş", "kedi"] and tr[-1] == "kamyon"


def test_cifar100_has_100_unique_names_in_canonical_order():
    en, tr = class_names("cifar100", "en"), class_names("cifar100", "tr")
    assert len(en) == len(tr) == 100
    assert len(set(en)) == len(set(tr)) == 100
    assert en == sorted(en)  # CIFAR-100 fine labels are numbered in alphabetical order of their English names
    assert en[0] == "apple" and en[1] == "aquarium fish" and en[99] == "worm"
    assert (tr[0], tr[1], tr[62], tr[97]) == ("elma", "akvaryum balığı", "gelincik çiçeği", "kurt")
    assert tr[99] == "solucan"
    assert all(name == name.strip() and "_" not in name for name in tr)


def test_unknown_dataset_or_language():
    with pytest.raises(InputError, match="cifar10, cifar100"):
        class_names("imagenet")
    with pytest.raises(InputError, match="en, tr"):
        class_names("cifar10", "de")
