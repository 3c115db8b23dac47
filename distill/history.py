"""Training history: one record per epoch, written as history.json and drawn as history.png (Agg backend)."""
from __future__ import annotations

import json
import os
from pathlib import Path


def save_history(run_dir: str | Path, history: list[dict]) -> tuple[Path, Path]:
    """Write run_dir/history.json and run_dir/history.png (loss and validation metrics by epoch, stages marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    json_path, png_path = run_dir / "history.json", run_dir / "history.png"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, json_path)

    x = list(range(len(history)))
    labels = [f"s{r['stage']}e{r['epoch']}" for r in history]
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(x, [r.get("loss") for r in history], "o-", label="train loss")
    ax_loss.plot(x, [r.get("val_mse") for r in history], "s--", label="val MSE")
    ax_loss.set_title("loss")
    for key, style in (("val_cosine", "o-"), ("val_r1", "s--")):
        ax_val.plot(x, [r.get(key) for r in history], style, label=key)
    ax_val.set_ylim(-0.05, 1.05)
    ax_val.set_title("validation: cosine to teacher, TR→EN R@1")
    for ax in (ax_loss, ax_val):
        starts = [i for i, r in enumerate(history) if r["stage"] == 2]
        if starts:
            ax.axvline(starts[0] - 0.5, color="grey", lw=0.8, ls=":")
        ax.set_xticks(x, labels, rotation=90, fontsize=7)
        ax.legend()
    fig.tight_layout()
    fig.savefig(png_path.with_suffix(".tmp.png"), dpi=80)
    plt.close(fig)
    os.replace(png_path.with_suffix(".tmp.png"), png_path)
    return json_path, png_path
