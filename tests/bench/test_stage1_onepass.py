"""bench/stage1_onepass.py's bookkeeping: when a curve reaches the one-pass R@1 and what multiple that is, and that
the replay on cached features follows the same Adam trajectory as today's stage 1 through the encoder."""
from __future__ import annotations

import numpy as np
import pytest

from bench import stage1_onepass as bench


def _curve(points):
    return [{"steps": s, "epochs": s / 10, "cpu_s": c, "wall_s": 2 * c, "val_r1": r} for s, c, r in points]


def test_speedup_is_the_first_point_reaching_the_target_in_one_pass_units():
    curve = _curve([(10, 5.0, 0.5), (20, 10.0, 0.8), (30, 15.0, 0.9)])
    got = bench.speedup_summary(curve, 0.8, base_cpu=2.0, base_wall=5.0, cap=20)
    assert got["reached"] and got["speedup"] == 5.0 and got["speedup_wall"] == 4.0 and got["steps"] == 20
    assert got["best_val_r1"] == 0.9


def test_never_reached_is_a_lower_bound_string_capped_at_the_cap():
    curve = _curve([(10, 30.0, 0.5), (20, 45.0, 0.6)])
    got = bench.speedup_summary(curve, 0.8, base_cpu=2.0, base_wall=5.0, cap=20)
    assert not got["reached"] and got["speedup"] == ">= 20" and got["best_val_r1"] == 0.6
    cut = bench.speedup_summary(curve[:1], 0.8, base_cpu=2.0, base_wall=5.0, cap=20)  # stopped early (wall limit)
    assert cut["speedup"] == ">= 15" and not bench.conclusive(cut, 20) and bench.conclusive(got, 20)


def test_replay_summary_prices_steps_at_the_measured_cost():
    curve = [{"steps": 4, "val_r1": 0.1}, {"steps": 8, "val_r1": 0.7}]
    got = bench.replay_summary(curve, 0.7, cpu_per_step=0.5, wall_per_step=1.0, base_cpu=2.0, base_wall=2.0)
    assert got == {"reached": True, "speedup": 2.0, "speedup_wall": 4.0, "steps": 8, "best_val_r1": 0.7}
    miss = bench.replay_summary(curve, 0.9, 0.5, 1.0, 2.0, 2.0)
    assert not miss["reached"] and miss["speedup"] == ">= 2"


def test_overall_takes_the_fastest_reached_run_else_the_smallest_bound():
    assert bench.overall({"a": {"reached": True, "speedup": 12.0}, "b": {"reached": False, "speedup": ">= 20"},
                          "c": {"reached": True, "speedup": 7.5}}) == 7.5
    assert bench.overall({"a": {"reached": False, "speedup": ">= 20"}, "b": {"reached": False, "speedup": ">= 9.5"}}) == ">= 9.5"


def test_agreement_compares_the_steps_both_curves_have():
    assert bench.agreement([{"steps": 2, "val_r1": 0.5}, {"steps": 4, "val_r1": 0.6}],
                           [{"steps": 2, "val_r1": 0.45}, {"steps": 3, "val_r1": 0.9}]) == 0.05
    assert bench.agreement([{"steps": 2, "val_r1": 0.5}], []) is None


@pytest.mark.slow
def test_replay_on_cached_features_follows_todays_stage1(tmp_path):
    s = bench.distilbert_setting(96, 48, seed=0, quick=True)
    initial = s.student.head.get_weights()
    base, val_features = bench.one_pass(s, str(tmp_path))
    train_features = np.load(tmp_path / "train.npy")
    measured = bench.adam_until(s, 2e-2, initial, 2.0, 1e9, 1e9, val_features, chunk=1, seed=0, max_steps=4)
    replayed = bench.replay(s, 2e-2, train_features, val_features, initial, 4, chunk=1, seed=0)
    assert [c["steps"] for c in measured] == [c["steps"] for c in replayed] == [1, 2, 3, 4]  # 2 epochs of 2 batches
    np.testing.assert_allclose([c["val_mse"] for c in measured], [c["val_mse"] for c in replayed], rtol=2e-3)
    assert measured[-1]["val_mse"] < measured[0]["val_mse"]  # it learns, so equal curves are not both flat
    assert 0 < base["val_r1"] <= 1 and base["penalty"] in bench.ridge.PENALTIES
