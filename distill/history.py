"""Training history: one record per epoch, written as history.json and drawn as history.png."""
from __future__ import annotations

import json
from pathlib import Path

from turkish_clip.files import atomic_path


def save_history(run_dir: str | Path, history: list[dict]) -> tuple[Path, Path]:
    """Write run_dir/history.json and run_dir/history.png (loss and validation metrics by epoch, stages marked),
    each atomically."""
    from matplotlib.figure import Figure  # the object API: no pyplot global state, no GUI backend

    run_dir = Path(run_dir)
    json_path, png_path = run_dir / "history.json", run_dir / "history.png"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")

    x = list(range(len(history)))
    labels = [f"s{r['stage']}e{r['epoch']}" for r in history]
    fig = Figure(figsize=(11, 4))
    ax_loss, ax_val = fig.subplots(1, 2)
    ax_loss.plot(x, [r.get("loss") for r in history], "o-", label="train loss")
    ax_loss.plot(x, [r.get("val_mse") for r in history], "s--", label="val MSE")
    ax_loss.set_title("loss")
    for key, style, label in (("val_cosine", "o-", "cosine × 100"), ("val_r1", "s--", "R@1 %"), ("val_r5", "^:", "R@5 %"),
                              ("val_t2i_r1", "d-", "text→image R@1 %"), ("val_i2t_r1", "v-", "image→text R@1 %"),
                              ("val_t2i_r10", "d:", "text→image R@10 %")):
        if any(r.get(key) is not None for r in history):  # image recall only in runs with an image loss
            ax_val.plot(x, [None if r.get(key) is None else 100 * r[key] for r in history], style, label=label)
    ax_val.set_ylim(-5, 105)
    ax_val.set_title("validation: cosine to teacher (× 100), TR→EN R@1/R@5, text↔image R@k (%)")
    starts = [i for i, r in enumerate(history) if r["stage"] == 2]
    for ax in (ax_loss, ax_val):
        if starts:
            ax.axvline(starts[0] - 0.5, color="grey", lw=0.8, ls=":")
        ax.set_xticks(x, labels, rotation=90, fontsize=7)
        ax.legend()
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    return json_path, png_path
