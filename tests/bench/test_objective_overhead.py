"""bench/objective_overhead.py's arithmetic: ms/step from summed seconds and the overhead over the MSE step."""
from __future__ import annotations

from bench.objective_overhead import overhead, round_ratios


def test_overhead_is_relative_to_the_base_per_step_time():
    totals = {"mse": {"wall_s": 10.0, "cpu_s": 8.0, "steps": 10}, "c": {"wall_s": 5.5, "cpu_s": 4.2, "steps": 5}}
    got = overhead(totals, "mse")
    assert got["mse"] == {"ms_per_step_wall": 1000.0, "ms_per_step_cpu": 800.0, "overhead_percent": 0.0,
                          "overhead_percent_wall": 0.0}
    assert got["c"]["ms_per_step_cpu"] == 840.0 and got["c"]["overhead_percent"] == 5.0
    assert got["c"]["overhead_percent_wall"] == 10.0


def test_round_ratios_pair_each_round_with_its_own_base():
    rounds = [{"mse": {"cpu_s": 2.0, "wall_s": 4.0}, "c": {"cpu_s": 2.2, "wall_s": 4.0}},
              {"mse": {"cpu_s": 4.0, "wall_s": 5.0}, "c": {"cpu_s": 3.8, "wall_s": 6.0}}]
    assert round_ratios(rounds, "c", "mse") == [10.0, -5.0]
    assert round_ratios(rounds, "c", "mse", "wall_s") == [0.0, 20.0]
