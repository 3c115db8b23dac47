"""The evidence report's goal checks (bench/evidence/report.py)."""
from __future__ import annotations

from bench.evidence.report import goals


def _results(curve):
    peers = [{"name": "e5", "R@1": 0.90}, {"name": "use", "R@1": 0.85}]
    test = {"stage1": {"R@1": 0.70}, "stage2": {"R@1": curve[-1]["R@1"]}}
    return {"student_test": test, "peers": peers, "curve": [{"label": "untrained", "wall_minutes": 1, "R@1": 0.0}, *curve]}


def test_budget_goal_takes_the_last_point_reached_in_time_not_the_best():
    curve = [{"label": "stage1", "wall_minutes": 10, "R@1": 0.70}, {"label": "stage2_epoch1", "wall_minutes": 20, "R@1": 0.93},
             {"label": "stage2_epoch2", "wall_minutes": 29.5, "R@1": 0.88}, {"label": "stage2_epoch3", "wall_minutes": 41, "R@1": 0.95}]
    got = goals(_results(curve))
    assert got["budget_point"] == "stage2_epoch2" and got["r1_within_budget"] == 0.88
    assert got["beats_every_peer_within_budget"] is False and got["beats_every_peer_r1"] is True
    late = goals(_results([{"label": "stage1", "wall_minutes": 31, "R@1": 0.7}, {"label": "stage2", "wall_minutes": 40, "R@1": 0.95}]))
    assert late["budget_point"] is None and late["beats_every_peer_within_budget"] is False


def test_the_stage2_row_says_what_stage_2_trained():
    from bench.evidence.report import trained_part

    assert trained_part({"lora_rank": 0}) == "all weights"
    assert trained_part({"lora_rank": 8}) == "LoRA r=8 adapters + head"
    assert trained_part({"lora_rank": 0, "freeze_embeddings": True, "freeze_layers": 6}) == \
        "all but the embeddings and lowest 6 blocks"
    assert trained_part({"freeze_embeddings": False, "freeze_layers": 2}) == "all but the lowest 2 blocks"


def test_the_recipes_plot_draws_each_run_and_skips_runs_without_points(tmp_path):
    from bench.evidence.report import plot_recipes

    run = _results([{"label": "stage1", "wall_minutes": 5, "R@1": 0.7}, {"label": "stage2", "wall_minutes": 20, "R@1": 0.9}])
    out = plot_recipes({"a": run, "b": run}, tmp_path / "r.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_recipes({"empty": {"curve": [{"label": "untrained", "wall_minutes": 1, "R@1": 0.0}]}},
                        tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()
