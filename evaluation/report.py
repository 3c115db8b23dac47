"""Evaluation results: the JSON schema, markdown tables (models as rows) and PNG plots (matplotlib, Agg).

results = {"retrieval": {set: {"info": {...}, "models": {model: retrieval_entry(...)}}},
           "zero_shot": {set: {"info": {...}, "classes": [...], "models": {model: zero_shot_entry(...)}}},
           "fidelity":  {set: {"info": {...}, "models": {model: metrics.fidelity(...)}}}, ...anything else}
Metric values are fractions in the JSON and percentages in the tables. Models: "student" (student on the
Turkish text), "clip_tr" (CLIP's English text encoder on the same Turkish text: the lower bound) and "clip_en"
(CLIP on the English captions: the upper bound); other names are shown as given.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from turkish_clip.metrics import (confusion_matrix, recall_at_k, recall_curve, retrieval_ranks, zero_shot_accuracy,
                                zero_shot_predict)

log = logging.getLogger(__name__)

FORMAT = {"format": "turkish-clip-evaluation", "version": 1}
MODEL_LABELS = {"student": "Student on Turkish",
                "clip_tr": "CLIP text encoder on Turkish (lower bound)",
                "clip_en": "CLIP on English (upper bound)"}
RETRIEVAL_COLUMNS = [("t2i_R@1", "T→I R@1"), ("t2i_R@5", "T→I R@5"), ("t2i_R@10", "T→I R@10"),
                     ("i2t_R@1", "I→T R@1"), ("i2t_R@5", "I→T R@5"), ("i2t_R@10", "I→T R@10")]
ZERO_SHOT_COLUMNS = [("top1", "Top-1"), ("top5", "Top-5")]
FIDELITY_COLUMNS = [("mse", "MSE"), ("cosine", "Mean cosine"), ("R@1", "TR→EN R@1"), ("R@5", "TR→EN R@5")]
PERCENT = {key for key, _ in RETRIEVAL_COLUMNS + ZERO_SHOT_COLUMNS} | {"cosine", "R@1", "R@5"}
CURVE_K = 50
MAX_TICK_CLASSES = 30  # confusion matrices with more classes get no class-name ticks


def retrieval_entry(text_emb: np.ndarray, image_emb: np.ndarray, text_to_image: Sequence,
                    ks: Sequence[int] = (1, 5, 10), curve_k: int = CURVE_K) -> dict:
    """Recall@K both ways plus recall-at-K curves (K = 1..curve_k, capped at the gallery size) of one model."""
    ranks = retrieval_ranks(text_emb, image_emb, text_to_image)
    entry: dict[str, Any] = {}
    for direction in ("t2i", "i2t"):
        entry.update({f"{direction}_R@{k}": v for k, v in recall_at_k(ranks[direction], ks).items()})
    entry["curve"] = {"t2i": recall_curve(ranks["t2i"], min(curve_k, len(image_emb))),
                      "i2t": recall_curve(ranks["i2t"], min(curve_k, len(text_emb)))}
    entry.update(n_texts=len(text_emb), n_images=len(image_emb))
    return entry


def zero_shot_entry(image_emb: np.ndarray, class_emb: np.ndarray, labels: Sequence[int],
                    ks: Sequence[int] = (1, 5)) -> dict:
    """Top-K accuracy and the confusion matrix (rows true, columns predicted) of one model."""
    entry: dict[str, Any] = zero_shot_accuracy(image_emb, class_emb, labels, ks)
    predictions = zero_shot_predict(image_emb, class_emb)
    entry["confusion"] = confusion_matrix(labels, predictions, len(class_emb)).tolist()
    return entry


def _plain(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None, Paths to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(results: dict, path: Path | str) -> Path:
    """results.json (strict JSON, format/version stamped), written to a temporary name and renamed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_plain({**FORMAT, **results}), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _cell(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{100 * value:.1f}" if key in PERCENT else f"{value:.4g}"


def _ordered(models: dict) -> list[str]:
    return [m for m in MODEL_LABELS if m in models] + [m for m in models if m not in MODEL_LABELS]


def _table(title: str, models: dict, columns: list[tuple[str, str]]) -> str:
    lines = [f"### {title}", "", "| Model | " + " | ".join(label for _, label in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for model in _ordered(models):
        cells = [_cell(key, models[model].get(key)) for key, _ in columns]
        lines.append(f"| {MODEL_LABELS.get(model, model)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _describe(info: dict, kind: str) -> str:
    if kind == "retrieval":
        return f"{info.get('images', '?'):,} images, {info.get('captions', '?'):,} captions"
    if kind == "zero_shot":
        return f"{info.get('images', '?'):,} images, {info.get('classes', '?'):,} classes"
    return f"{info.get('pairs', '?'):,} pairs"


def markdown_tables(results: dict) -> str:
    """One table per test set, models as rows; recall/accuracy in percent, MSE as is."""
    sections = []
    for kind, heading, columns in (("retrieval", "Retrieval", RETRIEVAL_COLUMNS),
                                   ("zero_shot", "Zero-shot classification", ZERO_SHOT_COLUMNS),
                                   ("fidelity", "Fidelity to the teacher", FIDELITY_COLUMNS)):
        for name, block in results.get(kind, {}).items():
            title = f"{heading}: {name} ({_describe(block.get('info', {}), kind)})"
            sections.append(_table(title, block["models"], columns))
    if not sections:
        return "No results.\n"
    note = "Recall@K and accuracy in percent; T→I = text→image, I→T = image→text."
    return "\n\n".join(sections) + f"\n\n{note}\n"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "set"


def plot_recall_curves(name: str, models: dict, path: Path | str) -> Path:
    """Recall@K against K (log scale), text→image and image→text side by side, one line per model."""
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg canvas for PNG
    from matplotlib.ticker import StrMethodFormatter

    fig = Figure(figsize=(10, 4.4), dpi=100)
    for ax, direction, label in zip(fig.subplots(1, 2), ("t2i", "i2t"), ("text → image", "image → text")):
        for model in _ordered(models):
            curve = models[model].get("curve", {}).get(direction) or []
            if curve:
                ks = np.arange(1, len(curve) + 1)
                ax.plot(ks, [100 * (v if v is not None else np.nan) for v in curve], marker=".",
                        label=MODEL_LABELS.get(model, model))
        ax.set(xscale="log", xlabel="K", ylabel="Recall@K (%)", ylim=(0, 102), title=f"{name}: {label}")
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(len(labels), 1), fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))  # room for the legend under the plots
    fig.savefig(path, format="png")
    return Path(path)


def plot_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path | str, title: str) -> Path:
    """Row-normalised confusion matrix (share of each true class predicted as each class)."""
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    size = min(4 + 0.35 * n, 16)
    fig = Figure(figsize=(size, size * 0.9), dpi=100)
    ax = fig.subplots()
    image = ax.imshow(shares, vmin=0, vmax=1, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    suffix = ""
    if n <= MAX_TICK_CLASSES:
        ax.set_xticks(range(n), classes, rotation=90, fontsize="small")
        ax.set_yticks(range(n), classes, fontsize="small")
    else:
        suffix = " (class index)"
    ax.set(xlabel=f"predicted{suffix}", ylabel=f"true{suffix}", title=title)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return Path(path)


def write_report(results: dict, out_dir: Path | str) -> dict[str, Path]:
    """results.json, results.md and the PNG plots into out_dir; returns {what: path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"json": write_json(results, out / "results.json")}
    markdown = out / "results.md"
    markdown.write_text(markdown_tables(results), encoding="utf-8")
    written["markdown"] = markdown
    for name, block in results.get("retrieval", {}).items():
        written[f"recall:{name}"] = plot_recall_curves(name, block["models"], out / f"recall_{_slug(name)}.png")
    for name, block in results.get("zero_shot", {}).items():
        for model, entry in block["models"].items():
            if "confusion" in entry:
                path = out / f"confusion_{_slug(name)}_{_slug(model)}.png"
                title = f"{name}: {MODEL_LABELS.get(model, model)}"
                written[f"confusion:{name}:{model}"] = plot_confusion(entry["confusion"], block["classes"], path,
                                                                      title)
    log.info("wrote %d result files to %s", len(written), out)
    return written
