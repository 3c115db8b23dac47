"""The freeze-vs-full comparison's mode names and its choice rule (fixed before the run)."""
from __future__ import annotations

import re

import pytest

from bench.evidence.freeze_vs_full import choose, mode_overrides
from turkish_clip.errors import UserError


def test_modes_map_to_the_freezing_options():
    assert mode_overrides("full", 3e-4) == ["stage2.learning_rate=0.0003"]
    assert mode_overrides("emb", 3e-4) == ["stage2.learning_rate=0.0003", "stage2.freeze_embeddings=true",
                                           "stage2.freeze_layers=0"]
    assert mode_overrides("emb+6@6e-4", 3e-4) == ["stage2.learning_rate=0.0006", "stage2.freeze_embeddings=true",
                                                  "stage2.freeze_layers=6"]


@pytest.mark.parametrize("mode", ["full+2", "6", "emb+", "emb-3", "emb@"])
def test_unknown_modes_are_one_line(mode):
    with pytest.raises(UserError, match=re.escape(f"mode '{mode}': use full, emb or emb+N")):
        mode_overrides(mode, 3e-4)


def test_a_malformed_learning_rate_is_named():
    with pytest.raises(UserError, match="mode 'emb@1e': '1e' is not a learning rate"):
        mode_overrides("emb@1e", 3e-4)


def test_choice_is_best_validation_r1_with_near_ties_broken_by_cosine():
    rows = [{"mode": "full", "val_r1": 0.700, "val_cosine": 0.60},
            {"mode": "emb+3", "val_r1": 0.740, "val_cosine": 0.58},
            {"mode": "emb+6", "val_r1": 0.737, "val_cosine": 0.59}]
    assert choose(rows)["mode"] == "emb+6"  # 0.3 points below the best, higher cosine
    rows[2]["val_r1"] = 0.730  # 1 point below: R@1 decides
    assert choose(rows)["mode"] == "emb+3"


def test_equal_time_modes_start_from_the_unfrozen_all_rows_baseline(tmp_path):
    """The evidence recipe now freezes half the encoder; the comparisons must not inherit that."""
    from bench.evidence.equal_time import equal_time_config

    full = equal_time_config(tmp_path, "full", 6, 42, mode_overrides("full", 3e-4))
    assert (full.stage2.freeze_embeddings, full.stage2.freeze_layers, full.stage1.max_rows) == (False, 0, None)
    assert full.stage2.max_minutes == 6 and full.stage2.decay == "none"
    emb6 = equal_time_config(tmp_path, "emb+6", 6, 42, mode_overrides("emb+6", 3e-4))
    assert (emb6.stage2.freeze_embeddings, emb6.stage2.freeze_layers) == (True, 6)
    lora = equal_time_config(tmp_path, "lora", 6, 42, ["stage2.lora_rank=8"])  # LoRA refuses partial freezing
    assert lora.stage2.lora_rank == 8 and lora.stage2.freeze_layers == 0
