"""Results of the evidence run: the markdown table, the learning-curve PNG and the goal checks."""
from __future__ import annotations

import os
from pathlib import Path


def _row(name: str, space: str, r: dict, mse: bool = True) -> str:
    m = f"{r['mse']:.5f}" if mse else "—"
    return f"| {name} | {space} | {m} | {r['cosine']:.3f} | {100 * r['R@1']:.1f} | {100 * r['R@5']:.1f} |"


def table(results: dict) -> str:
    """Markdown: student points and peers on the test pool (TR -> EN retrieval among all test pairs)."""
    test, n = results["student_test"], results["data"]["test_pool"]
    lines = [f"Test pool: {n} LASER Tatoeba eng–tur pairs; R@K = TR→EN retrieval among all {n} English sentences.",
             "MSE and cosine are to the teacher's vectors only in the teacher's space; peers (b), (c) are scored in their own.",
             "", "| model | space | test MSE | mean cosine | R@1 % | R@5 % |", "|---|---|---|---|---|---|"]
    labels = {"untrained": "student, untrained (random head)", "stage1": "student after stage 1 (frozen encoder)",
              "stage2": "student after stage 2 (all weights)"}
    for key, label in labels.items():
        if key in test:
            lines.append(_row(f"**{label}**" if key == "stage2" else label, "teacher", test[key]))
    for peer in results["peers"]:
        lines.append(_row(peer["name"], peer["space"], peer, mse=peer["space"] == "teacher"))
    return "\n".join(lines)


def document(results: dict, png_name: str = "evidence_curves.png") -> str:
    """evidence.md: the table, the goal checks, the settings, and the hand-written investigation notes."""
    g, cfg, d = results.get("goals", {}), results["config"], results["data"]
    verdict = []
    if g:
        beats = {True: "yes", False: "no", None: "not checked (peers skipped)"}[g["beats_every_peer_r1"]]
        verdict.append(f"- Student after stage 2 beats every peer on R@1: **{beats}** "
                       f"({100 * g['student_r1']:.1f} % vs best peer {g['best_peer']} {100 * g['best_peer_r1']:.1f} %).")
        verdict.append(f"- Stage 2 adds to stage 1: **{'yes' if g['stage2_adds_to_stage1'] else 'no'}** "
                       f"({100 * g['stage2_minus_stage1_r1']:+.1f} points R@1).")
    s1, s2 = cfg["stage1"], cfg["stage2"]
    settings = [
        f"- Data: Tatoeba eng-tur.tsv minus {d['test_overlap']['removed_pairs']} pairs sharing a sentence with the test set "
        f"({d['test_overlap']['identical_pairs']} identical pairs); {d['train_pairs']} train / {d['val_pairs']} val pairs "
        f"sampled; distill's split by sentence component: {d['effective_split']['train_rows']} training rows "
        f"(English side included: {cfg['include_english']}), {d['effective_split']['val_rows']} validation rows, "
        f"0 sentences shared (checked).",
        f"- Stage 1 (encoder frozen): {s1['epochs']} × {s1['steps_per_epoch'] or 'all'} steps, batch {s1['batch_size']}, "
        f"Adam lr {s1['learning_rate']}. Stage 2 (everything): {s2['epochs']} × {s2['steps_per_epoch'] or 'all'} steps, "
        f"batch {s2['batch_size']}, lr {s2['learning_rate']} ({s2['warmup_fraction']:.0%} warm-up, {s2['decay']} decay). "
        f"Loss {cfg['loss']}, targets normalised: {cfg['normalize_targets']}, max_length {cfg['max_length']}.",
        f"- Machine: {results['machine']['cpu_count']} CPU cores, torch {results['machine']['torch']}, "
        f"TF {results['machine']['tensorflow']}; whole run {results['seconds_total'] / 60:.1f} min.",
    ]
    notes = Path(__file__).with_name("investigation.md")
    extra = "\n\n" + notes.read_text(encoding="utf-8").strip() if notes.is_file() else ""
    return "\n".join(["# Evidence: the recipe on real models (issue 6)", "", table(results), "", *verdict, "", *settings,
                      "", f"![learning curves]({png_name})"]) + extra + "\n"


def goals(results: dict) -> dict:
    """The issue's goal: the final student beats every peer on R@1, and stage 2 adds to stage 1."""
    test = results["student_test"]
    if "stage2" not in test or not results["peers"]:
        return {}
    final = test["stage2"]["R@1"]
    best = max(results["peers"], key=lambda p: p["R@1"])
    return {"student_r1": final, "best_peer": best["name"], "best_peer_r1": best["R@1"],
            "peers_compared": len(results["peers"]),
            "beats_every_peer_r1": final > best["R@1"] if len(results["peers"]) > 1 else None, "stage2_adds_to_stage1": final > test["stage1"]["R@1"],
            "stage2_minus_stage1_r1": final - test["stage1"]["R@1"]}


def plot_curves(history: list[dict], student_test: dict, path: str | Path, peers: list[dict] = ()) -> Path:
    """Validation cosine and R@1 per epoch (stage 0 = untrained); test-pool R@1 after each stage as stars and the
    peers' test-pool R@1 as dotted lines (validation and test pools differ in size, so compare stars with lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    x = list(range(len(history)))
    labels = [f"s{r['stage']}e{r['epoch']}" for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, key, title in ((axes[0], "val_cosine", "validation: mean cosine to teacher"),
                           (axes[1], "val_r1", "TR→EN R@1")):
        ax.plot(x, [r.get(key) for r in history], "o-", label=f"validation ({key})")
        if key == "val_r1":
            for stage in (1, 2):
                ends = [i for i, r in enumerate(history) if r["stage"] == stage]
                if ends and f"stage{stage}" in student_test:
                    ax.plot(ends[-1], student_test[f"stage{stage}"]["R@1"], "r*", ms=12,
                            label="test pool, after stage" if stage == 1 else None)
            for peer, color in zip(peers, ("tab:orange", "tab:green", "tab:brown", "tab:purple")):
                ax.axhline(peer["R@1"], color=color, lw=0.9, ls="--", label=f"test: {peer['name'][:40]}")
        starts = [i for i, r in enumerate(history) if r["stage"] == 2]
        if starts:
            ax.axvline(starts[0] - 0.5, color="grey", lw=0.8, ls=":")
            ax.text(starts[0] - 0.4, 0.02, "stage 2 →", fontsize=8, color="grey")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
    return path
