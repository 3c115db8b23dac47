"""Results JSON, markdown table and PNG plots: written with the right contents."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from turkish_clip.metrics import fidelity
from evaluation.report import markdown_tables, plot_confusion, retrieval_entry, write_report, zero_shot_entry

CLASSES = ["uçak", "otomobil", "kuş"]


@pytest.fixture
def results():
    images = np.eye(4)
    texts = np.array([[4, 3, 2, 1], [4, 3, 2, 1], [1, 2, 3, 4], [1, 4, 2, 3]], dtype=float)  # as in test_metrics
    class_emb = np.eye(3)
    image_emb = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.3], [0.0, 0.2, 0.9], [0.5, 0.4, 0.1]])
    return {
        "retrieval": {"tiny-set": {"info": {"images": 4, "captions": 4}, "models": {
            "clip_en": retrieval_entry(images, images, [0, 1, 2, 3]),
            "student": retrieval_entry(texts, images, [0, 1, 0, 3], ks=(1, 5, 10)),
            "clip_tr": {**retrieval_entry(texts, images, [3, 2, 1, 0]), "i2t_R@10": float("nan")},
        }}},
        "zero_shot": {"tiny-cls": {"info": {"images": 4, "classes": 3}, "classes": CLASSES, "models": {
            "student": zero_shot_entry(image_emb, class_emb, [0, 2, 2, 1], ks=(1, 2)),
        }}},
        "fidelity": {"tiny-pairs": {"info": {"pairs": 2}, "models": {
            "student": fidelity(2 * np.eye(2), np.eye(2)),
        }}},
        "config": {"note": "unit test"},
    }


def test_entries_hold_known_values(results):
    student = results["retrieval"]["tiny-set"]["models"]["student"]
    assert student["t2i_R@1"] == 0.25 and student["t2i_R@5"] == 1.0
    assert student["i2t_R@1"] == pytest.approx(1 / 3)
    assert student["curve"]["t2i"] == [0.25, 0.75, 0.75, 1.0]  # K = 1..4 (the gallery has 4 images)
    zero = results["zero_shot"]["tiny-cls"]["models"]["student"]
    assert (zero["top1"], zero["top2"]) == (0.5, 1.0)
    assert zero["confusion"] == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]


def test_markdown_rows_are_models_in_baseline_order_with_percentages(results):
    text = markdown_tables(results)
    lines = text.splitlines()
    start = lines.index("### Retrieval: tiny-set (4 images, 4 captions)")
    assert lines[start + 2] == "| Model | T→I R@1 | T→I R@5 | T→I R@10 | I→T R@1 | I→T R@5 | I→T R@10 |"
    assert lines[start + 4] == "| Student on Turkish | 25.0 | 100.0 | 100.0 | 33.3 | 100.0 | 100.0 |"
    assert lines[start + 5].startswith("| CLIP text encoder on Turkish (lower bound) |")
    assert lines[start + 5].endswith("| — |")  # a missing value (NaN) is a dash
    upper = "| CLIP on English (upper bound) |"
    assert lines[start + 6] == upper + " 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |"
    assert "| Student on Turkish | 50.0 | — |" in text  # top-5 was not computed (ks=(1, 2))
    assert "| Student on Turkish | 0.5 | 100.0 | 100.0 | 100.0 |" in text  # fidelity: MSE raw, rest percent


def test_write_report_files(results, tmp_path):
    written = write_report(results, tmp_path / "out")
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert data["format"] == "turkish-clip-evaluation" and data["version"] == 1
    assert data["retrieval"]["tiny-set"]["models"]["student"]["t2i_R@1"] == 0.25
    assert data["retrieval"]["tiny-set"]["models"]["clip_tr"]["i2t_R@10"] is None  # strict JSON: NaN -> null
    assert data["zero_shot"]["tiny-cls"]["classes"] == CLASSES and data["config"] == {"note": "unit test"}
    assert data["fidelity"]["tiny-pairs"]["models"]["student"]["mse"] == pytest.approx(0.5)
    assert (tmp_path / "out" / "results.md").read_text(encoding="utf-8") == markdown_tables(results)
    assert set(written) == {"json", "markdown", "recall:tiny-set", "confusion:tiny-cls:student"}
    for key in ("recall:tiny-set", "confusion:tiny-cls:student"):
        with Image.open(written[key]) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 300
            assert len(set(image.convert("RGB").getdata())) > 10  # something was drawn


def test_confusion_plot_without_ticks_for_many_classes(tmp_path):
    matrix = np.diag(np.arange(1, 101))
    path = plot_confusion(matrix, [f"c{i}" for i in range(100)], tmp_path / "c.png", "100 classes")
    with Image.open(path) as image:
        assert image.format == "PNG"
