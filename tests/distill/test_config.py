"""TrainConfig: defaults, JSON round trip, key=value overrides with type checks."""
import pytest

from turkish_clip.errors import UserError
from distill.config import StageConfig, TrainConfig


def test_defaults_follow_the_design():
    config = TrainConfig()
    assert config.model == "dbmdz/distilbert-base-turkish-cased" and config.loss == "mse+contrastive"
    assert config.stage1.solver == "ridge" and config.stage2.solver == "adam" and config.include_english
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


@pytest.mark.parametrize("item, message", [
    ("loss=MSE", "option loss='MSE' is not allowed; use one of 'mse', 'cosine'"),
    ("stage2.decay=cos", "option stage2.decay='cos' is not allowed; use one of 'none', 'linear', 'cosine'"),
    ("mixed_precision=yes", "option mixed_precision='yes' is not allowed; use one of 'auto', 'on', 'off'"),
    ("jit_compile=true", "option jit_compile='true' is not allowed; use one of 'auto', 'on', 'off'"),
    ("val_fraction=3", "option val_fraction=3.0 is not allowed; use a number between 0 and 1 (exclusive)"),
    ("val_fraction=0", "option val_fraction=0.0 is not allowed"),
    ("max_length=0", "option max_length=0 is not allowed; use an integer >= 3"),
    ("stage1.batch_size=0", "option stage1.batch_size=0 is not allowed; use an integer >= 1"),
    ("stage1.learning_rate=-1", "option stage1.learning_rate=-1.0 is not allowed; use a number > 0"),
    ("stage2.warmup_fraction=1.5", "option stage2.warmup_fraction=1.5 is not allowed; use a number from 0 to 1"),
    ("stage2.patience=0", "option stage2.patience=0 is not allowed; use an integer >= 1"),
    ("stage1.epochs=-1", "option stage1.epochs=-1 is not allowed; use an integer >= 0"),
    ("stage1.steps_per_epoch=0", "option stage1.steps_per_epoch=0 is not allowed; use an integer >= 1 or null"),
    ("stage2.max_minutes=0", "option stage2.max_minutes=0 is not allowed; use a number > 0 or null"),
    ("stage1.max_rows=0", "option stage1.max_rows=0 is not allowed; use an integer >= 1 or null"),
    ("stage2.max_rows=100", "option stage2.max_rows=100 is not allowed; use null (a stage-1 option"),
    ("stage2.freeze_layers=-1", "option stage2.freeze_layers=-1 is not allowed; use an integer >= 0"),
    ("stage1.freeze_layers=2", "option stage1.freeze_layers=2 is not allowed; use its default (stage 1 freezes"),
    ("stage1.freeze_embeddings=true", "option stage1.freeze_embeddings=True is not allowed; use its default"),
    ("max_train=0", "option max_train=0 is not allowed; use an integer >= 1 or null"),
    ("seed=-1", "option seed=-1 is not allowed; use an integer >= 0"),
    ("verbose=3", "option verbose=3 is not allowed; use one of 0, 1, 2"),
    ("model=", "option model='' is not allowed; use a non-empty string"),
])
def test_bad_values_name_the_option_the_value_and_what_is_allowed(item, message):
    with pytest.raises(UserError) as err:
        TrainConfig().override([item])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_values_are_checked_in_config_files_and_constructors(tmp_path):
    (tmp_path / "c.json").write_text('{"loss": "l1", "stage2": {"decay": "linear"}}')
    with pytest.raises(UserError, match="option loss='l1' is not allowed"):
        TrainConfig.load(tmp_path / "c.json")
    (tmp_path / "c.json").write_text('{"stage2": {"decay": "exp"}}')
    with pytest.raises(UserError, match="option stage2.decay='exp' is not allowed"):
        TrainConfig.load(tmp_path / "c.json")
    (tmp_path / "c.json").write_text('{"include_english": "yes"}')
    with pytest.raises(UserError, match="option include_english='yes' is not allowed; use true or false"):
        TrainConfig.load(tmp_path / "c.json")
    with pytest.raises(UserError, match="option decay='cos'"):
        StageConfig(decay="cos")
    assert TrainConfig.from_dict({"stage1": {"learning_rate": 1}}).stage1.learning_rate == 1.0  # JSON int is fine


@pytest.mark.parametrize("item, message", [
    ("stage2.solver=ridge", r"stage2.solver='ridge' is not allowed; use 'adam'"),
    ("stage1.solver=lbfgs", r"stage1.solver='lbfgs' is not allowed; use one of 'ridge', 'adam'"),
    ("loss=infonce", r"loss='infonce' is not allowed; use one of 'mse', 'cosine', 'contrastive', 'mse\+contrastive'"),
    ("temperature=0", r"temperature=0.0 is not allowed; use a number > 0"),
    ("contrastive_negatives=-1", r"contrastive_negatives=-1 is not allowed"),
    ("stage1.ridge_penalty=-1", r"stage1.ridge_penalty=-1 is not allowed; use a number >= 0 or null"),
])
def test_new_objective_options_are_checked(item, message):
    with pytest.raises(UserError, match=message):
        TrainConfig().override([item])


def test_language_picks_the_default_student_and_column():
    assert (TrainConfig().lang, TrainConfig().text_column) == ("tr", "tr")
    hindi = TrainConfig(lang="hi")
    assert (hindi.model, hindi.text_column) == ("l3cube-pune/hindi-bert-v2", "hi")
    switched = TrainConfig().override(["lang=hi"])
    assert (switched.lang, switched.model, switched.text_column) == ("hi", "l3cube-pune/hindi-bert-v2", "hi")
    # explicit choices stay, whatever the order of the assignments
    kept = TrainConfig(model="my/bert").override(["lang=hi", "text_column=hindi"])
    assert (kept.model, kept.text_column) == ("my/bert", "hindi")
    assert TrainConfig().override(["model=x/y", "lang=hi"]).model == "x/y"
    with pytest.raises(UserError, match="language 'de' is not available; use one of tr, hi"):
        TrainConfig(lang="de")


def test_language_round_trips_through_the_json(tmp_path):
    TrainConfig(lang="hi").save(tmp_path / "c.json")
    loaded = TrainConfig.load(tmp_path / "c.json")
    assert (loaded.lang, loaded.model, loaded.text_column) == ("hi", "l3cube-pune/hindi-bert-v2", "hi")


def test_partial_freezing_is_refused_with_lora_which_freezes_the_whole_base():
    with pytest.raises(UserError, match=r"option stage2.freeze_layers=2 is not allowed; use its default with LoRA"):
        TrainConfig().override(["stage2.lora_rank=4", "stage2.freeze_layers=2"])
    assert TrainConfig().override(["stage2.freeze_embeddings=true", "stage2.freeze_layers=2"]).stage2.freeze_layers == 2
