"""TrainConfig: defaults, JSON round trip, key=value overrides with type checks."""
import pytest

from data_tools.errors import UserError
from distill.config import TrainConfig


def test_defaults_follow_the_design():
    config = TrainConfig()
    assert config.model == "dbmdz/distilbert-base-turkish-cased" and config.loss == "mse"
    assert config.head_path == "clip_head.h5" and config.output_dir == "student"
    assert config.stage1.learning_rate > config.stage2.learning_rate and config.stage2.warmup_fraction > 0


def test_json_round_trip_and_overrides(tmp_path):
    config = TrainConfig().override(["stage2.learning_rate=1e-5", "stage1.epochs=4", "max_train=100",
                                     "include_english=true", "model=some/model", "stage2.learning_rate=2"])
    assert config.stage2.learning_rate == 2.0 and isinstance(config.stage2.learning_rate, float)
    assert (config.stage1.epochs, config.max_train, config.include_english, config.model) == (4, 100, True, "some/model")
    config.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == config


@pytest.mark.parametrize("item, message", [
    ("stage3.epochs=1", "only stage1./stage2."), ("nope=1", "unknown option 'nope'"),
    ("stage1.epochs=abc", "expected int"), ("seed", "must look like key=value"),
])
def test_bad_overrides_say_what_is_wrong(item, message):
    with pytest.raises(UserError, match=message):
        TrainConfig().override([item])


def test_bad_config_file(tmp_path):
    (tmp_path / "c.json").write_text('{"epochs": 3}')
    with pytest.raises(UserError, match=r"unknown training option\(s\) \['epochs'\]"):
        TrainConfig.load(tmp_path / "c.json")
    with pytest.raises(UserError, match="does not exist"):
        TrainConfig.load(tmp_path / "missing.json")
