"""Classification loaders: labels.tsv and one folder per class."""
from __future__ import annotations

import pytest

from turkish_clip.errors import InputError
from evaluation.classification import load_image_folder, load_labels_tsv, read_class_list
from evaluation.labels import names_for
from tests.evaluation.test_datasets import touch_images


def test_labels_tsv_with_names_and_sorted_classes(tmp_path):
    touch_images(tmp_path, ["img/1.jpg", "img/2.jpg", "img/3.jpg"])
    labels = tmp_path / "labels.tsv"
    labels.write_text("path\tclass\nimg/1.jpg\tdog\nimg/2.jpg\tcat\nimg/3.jpg\tdog\n", encoding="utf-8")
    result = load_labels_tsv(labels)
    assert result.classes == ["cat", "dog"] and result.labels == [1, 0, 1]
    assert result.image_paths == [tmp_path / "img" / "1.jpg", tmp_path / "img" / "2.jpg", tmp_path / "img" / "3.jpg"]


def test_labels_tsv_with_given_classes_accepts_names_and_indexes(tmp_path):
    labels = tmp_path / "labels.tsv"
    labels.write_text("a.png\t2\nb.png\tcat\n", encoding="utf-8")
    classes = tmp_path / "classes.txt"
    classes.write_text("# CIFAR-10 order\nairplane\nautomobile\nbird\ncat\n", encoding="utf-8")
    result = load_labels_tsv(labels, classes=read_class_list(classes), check_images=False)
    assert result.labels == [2, 3] and result.classes[:2] == ["airplane", "automobile"]
    assert names_for(result.classes, "cifar10") == ["uçak", "otomobil", "kuş", "kedi"]


def test_labels_tsv_errors_name_file_and_line(tmp_path):
    labels = tmp_path / "labels.tsv"
    labels.write_text("a.png\tcat\nb.png\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"labels\.tsv: line 2: expected '<image path><TAB><class>'"):
        load_labels_tsv(labels, check_images=False)
    labels.write_text("a.png\tcat\nb.png\tzebra\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"labels\.tsv: line 2: class 'zebra' is not one of the 2 classes"):
        load_labels_tsv(labels, classes=["cat", "dog"], check_images=False)
    labels.write_text("a.png\tcat\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"1 of 1 images are missing"):
        load_labels_tsv(labels)
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\ndog\ncat\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"classes\.txt: class 'cat' is listed twice"):
        read_class_list(classes)


def test_image_folder_one_folder_per_class(tmp_path):
    touch_images(tmp_path / "data", ["dog/1.jpg", "dog/2.JPG", "cat/x.png", "cat/notes.txt", ".hidden/y.jpg"])
    result = load_image_folder(tmp_path / "data")
    assert result.classes == ["cat", "dog"] and result.labels == [0, 1, 1]
    assert [p.name for p in result.image_paths] == ["x.png", "1.jpg", "2.JPG"]
    ordered = load_image_folder(tmp_path / "data", classes=["dog", "cat", "bird"])
    assert ordered.labels == [0, 0, 1] and ordered.classes == ["dog", "cat", "bird"]
    with pytest.raises(InputError, match="sub-folder 'dog' is not one of the classes"):
        load_image_folder(tmp_path / "data", classes=["cat"])
    with pytest.raises(InputError, match="'zebra' is not a cifar10 class name"):
        names_for(["cat", "zebra"], "cifar10")
