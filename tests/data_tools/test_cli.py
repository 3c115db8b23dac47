"""`python -m data_tools`: help texts, one-line errors with exit code 2, and resume after SIGKILL in a subprocess."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from data_tools import cache
from data_tools.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command, expected", [
    (None, ["captions", "translate", "embed", "prepare", "examples:"]),
    ("captions", ["--karpathy", "--exclude", "XTD10", "--limit", "--data-dir", "examples:"]),
    ("translate", ["--backend", "{marian,ctranslate2,import}", "--import PATH", "--num-beams", "--limit"]),
    ("embed", ["--teacher", "ViT-B/32", "--dtype {float16,float32}", "--shard-size", "--overwrite", "--device"]),
    ("prepare", ["CAPTIONS_JSON", "--mt-batch-size", "--batch-size", "--teacher", "--model"]),
])
def test_help(capsys, command, expected):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for text in expected:
        assert text in out


def test_lang_picks_the_translation_model():
    from data_tools.cli import _configs, build_parser

    def translate_config(argv):
        return _configs(build_parser().parse_args(argv))[1]

    assert translate_config(["translate"]).model == "Helsinki-NLP/opus-mt-tc-big-en-tr"
    hindi = translate_config(["translate", "--lang", "hi"])
    assert (hindi.target_lang, hindi.model) == ("hi", "Helsinki-NLP/opus-mt-en-hi")
    assert translate_config(["prepare", "--target-lang", "hi"]).model == "Helsinki-NLP/opus-mt-en-hi"  # old name
    other = translate_config(["translate", "--lang", "de", "--model", "Helsinki-NLP/opus-mt-en-de"])
    assert (other.target_lang, other.model) == ("de", "Helsinki-NLP/opus-mt-en-de")  # any language, given a model


def _error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_language_without_defaults_is_one_line(capsys, tmp_path):
    line = _error(capsys, ["translate", "--data-dir", str(tmp_path), "--lang", "de"])
    assert "language 'de' is not available; use one of tr, hi (--lang)" in line


def test_missing_captions_file(capsys, tmp_path):
    line = _error(capsys, ["captions", "--data-dir", str(tmp_path / "d"), str(tmp_path / "nope.json")])
    assert "nope.json: file not found" in line


def test_malformed_json(capsys, tmp_path):
    bad = tmp_path / "captions_val2017.json"
    bad.write_text('{"images": [], "annotations": [{"id": 1, ')
    line = _error(capsys, ["captions", "--data-dir", str(tmp_path / "d"), str(bad)])
    assert "captions_val2017.json: malformed JSON at line 1" in line and "truncated" in line
    assert not (tmp_path / "d" / "captions.parquet").exists()


def test_wrong_cache_folder(capsys, tmp_path):
    line = _error(capsys, ["embed", "--data-dir", str(tmp_path)])
    assert f"{tmp_path} is not a turkish-clip cache folder (no manifest.json)" in line
    (tmp_path / "manifest.json").write_text('{"format": "other"}')
    assert "format 'other'" in _error(capsys, ["translate", "--data-dir", str(tmp_path)])


def test_missing_models_offline(capsys, tmp_path, coco_sample_json, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = str(tmp_path / "d")
    assert main(["captions", "--data-dir", data, "--limit", "20", str(coco_sample_json)]) == 0
    assert "captions: done: 20 rows" in capsys.readouterr().out
    line = _error(capsys, ["embed", "--data-dir", data, "--teacher", "ViT-B/32"])
    assert "OpenAI CLIP checkpoint 'ViT-B/32' is not available offline" in line and "pass the .pt path" in line
    line = _error(capsys, ["embed", "--data-dir", data, "--teacher", str(tmp_path / "missing.pt")])
    assert "missing.pt does not exist" in line
    line = _error(capsys, ["translate", "--data-dir", data, "--model", "Helsinki-NLP/opus-mt-tc-big-en-tr"])
    assert "translation model 'Helsinki-NLP/opus-mt-tc-big-en-tr' is not available offline" in line
    line = _error(capsys, ["translate", "--data-dir", data, "--lang", "hi"])
    assert "translation model 'Helsinki-NLP/opus-mt-en-hi' is not available offline" in line
    from turkish_clip.errors import UserError
    from data_tools.pipeline import translate_captions

    with pytest.raises(UserError, match="'Helsinki-NLP/opus-mt-en-hi' is not available"):
        translate_captions(data, target_lang="hi")  # the library: another language brings its own model
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [".lock", "captions.parquet", "manifest.json"]


def test_prepare_end_to_end_then_nothing_to_do(capsys, tmp_path, coco_sample_json, tiny_marian_dir,
                                               tiny_openai_clip_pt):
    data = tmp_path / "d"
    argv = ["prepare", "--data-dir", str(data), "--limit", "24", str(coco_sample_json), "--model", str(tiny_marian_dir),
            "--max-length", "8", "--mt-shard-size", "8", "--teacher", str(tiny_openai_clip_pt), "--shard-size", "8"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for line in ("captions: done: 24 rows", "translation: done: 24 rows", "teacher: done: 24 rows", "total:"):
        assert line in out
    table = cache.load_table(data, "translations")
    assert len(table) == 24 and cache.load_teacher_vectors(data).shape == (24, 32)
    assert cache.read_manifest(data)["translation"]["lang"] == "tr"  # the language is recorded
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("already done") == 3


# ---------------------------------------------------------------- SIGKILL and resume, in real subprocesses

def _cli(args: list[str], delay: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "DATA_TOOLS_SHARD_DELAY": str(delay), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "data_tools", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def _kill_after(proc: subprocess.Popen, work: Path, shards: int, pattern: str) -> int:
    """SIGKILL `proc` once `shards` shard files exist in `work`; returns how many there were."""
    deadline = time.time() + 240
    while len(list(work.glob(pattern))) < shards:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "no shard appeared"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return len(list(work.glob(pattern)))


@pytest.mark.slow
def test_embed_resumes_after_sigkill_identical(tmp_path, coco_sample_json, tiny_openai_clip_pt):
    embed = ["--teacher", str(tiny_openai_clip_pt), "--shard-size", "16", "--batch-size", "8"]
    folders = {}
    for name in ("reference", "killed"):
        folders[name] = str(tmp_path / name)
        assert main(["captions", "--data-dir", folders[name], str(coco_sample_json)]) == 0
    _finish(_cli(["embed", "--data-dir", folders["reference"], *embed]))

    work = tmp_path / "killed" / "work" / "teacher"
    for kill_at in (1, 6):  # killed twice, at different points
        proc = _cli(["embed", "--data-dir", folders["killed"], *embed], delay=0.4)
        done = _kill_after(proc, work, kill_at, "shard-*.npy")
        assert kill_at <= done < 18 and not (tmp_path / "killed" / "teacher.npy").exists()
    out = _finish(_cli(["embed", "--data-dir", folders["killed"], *embed]))
    assert "teacher: done: 280 rows" in out and "reused" in out and not work.exists()

    ref, resumed = (cache.load_teacher_vectors(folders[k]) for k in ("reference", "killed"))
    assert resumed.shape == (280, 32) and np.array_equal(ref, resumed)
    assert (Path(folders["reference"]) / "teacher.npy").read_bytes() == (tmp_path / "killed/teacher.npy").read_bytes()
    manifests = [cache.read_manifest(folders[k])["teacher"] for k in ("reference", "killed")]
    assert manifests[0]["count"] == manifests[1]["count"] == 280 and manifests[0]["key"] == manifests[1]["key"]

    mtime = (tmp_path / "killed" / "teacher.npy").stat().st_mtime_ns
    out = _finish(_cli(["embed", "--data-dir", folders["killed"], *embed]))
    assert "teacher: already done" in out and "nothing to do" in out
    assert (tmp_path / "killed" / "teacher.npy").stat().st_mtime_ns == mtime


def test_embed_max_length_reaches_the_teacher(capsys, tmp_path, coco_sample_json, tiny_openai_clip_pt):
    data = str(tmp_path / "d")
    assert main(["captions", "--data-dir", data, "--limit", "20", str(coco_sample_json)]) == 0
    line = _error(capsys, ["embed", "--data-dir", data, "--teacher", str(tiny_openai_clip_pt), "--max-length", "16"])
    assert "--max-length is for hf-mean-pool teachers only" in line
    from data_tools.cli import _configs, build_parser

    args = build_parser().parse_args(["prepare", "--data-dir", data, "--teacher-max-length", "16", "--max-length", "40",
                                      str(coco_sample_json)])
    _, translate, embed = _configs(args)
    assert embed.max_length == 16 and translate.max_length == 40  # prepare: --max-length stays the translation's
    assert _configs(build_parser().parse_args(["embed", "--data-dir", data]))[2].max_length is None


@pytest.mark.parametrize("argv, message", [
    (["captions", "--limit", "0", "x.json"], "argument --limit: must be an integer >= 1, got 0"),
    (["translate", "--limit", "-3"], "argument --limit: must be an integer >= 1, got -3"),
    (["translate", "--max-length", "0"], "argument --max-length: must be an integer >= 1, got 0"),
    (["translate", "--max-length", "-1"], "argument --max-length: must be an integer >= 1, got -1"),
    (["embed", "--limit", "0"], "argument --limit: must be an integer >= 1, got 0"),
    (["embed", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got 0"),
    (["prepare", "--mt-batch-size", "0", "x.json"], "argument --mt-batch-size: must be an integer >= 1, got 0"),
])
def test_count_options_follow_one_rule_naming_the_option(capsys, argv, message):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2 and message in capsys.readouterr().err


def test_library_calls_name_the_option_before_any_model_loads(tmp_path, coco_sample_json):
    from data_tools import pipeline
    from turkish_clip.errors import UserError

    pipeline.build_captions(tmp_path, [coco_sample_json], limit=10)
    teacher = "/nonexistent/teacher.pt"  # loading it would fail: the option must be refused first
    with pytest.raises(UserError, match=r"^--batch-size must be an integer >= 1, got 0$"):
        pipeline.embed_captions(tmp_path, pipeline.EmbedConfig(teacher=teacher, batch_size=0))
    with pytest.raises(UserError, match=r"^--limit must be an integer >= 1, got -3$"):
        pipeline.embed_captions(tmp_path, pipeline.EmbedConfig(teacher=teacher), limit=-3)
    with pytest.raises(UserError, match=r"^--max-length must be an integer >= 1, got 0$"):
        pipeline.translate_captions(tmp_path, pipeline.TranslateConfig(model="/nonexistent", max_length=0))
    with pytest.raises(UserError, match=r"^--device 'tpu' is not a torch device; use cpu, cuda or cuda:N$"):
        pipeline.embed_captions(tmp_path, pipeline.EmbedConfig(teacher=teacher, device="tpu"))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a torch without CUDA")
@pytest.mark.parametrize("command", ["translate", "embed"])
def test_cuda_on_a_cpu_only_torch_is_one_line(capsys, tmp_path, coco_sample_json, command):
    assert main(["captions", "--data-dir", str(tmp_path), "--limit", "10", str(coco_sample_json)]) == 0
    capsys.readouterr()
    line = _error(capsys, [command, "--data-dir", str(tmp_path), "--device", "cuda"])
    assert line.startswith("error: --device cuda: this torch (") and "sees no CUDA GPU; use --device cpu" in line


def test_captions_limit_reports_what_it_kept(capsys, tmp_path, coco_sample_json):
    assert main(["captions", "--data-dir", str(tmp_path), "--limit", "10", str(coco_sample_json)]) == 0
    out = capsys.readouterr().out
    assert "captions: done: 10 rows" in out and "and 270 after the first 10 (--limit); kept 10 (val2017 10)." in out


def test_translate_limit_computes_only_the_limit(capsys, tmp_path, coco_sample_json, tiny_marian_dir):
    assert main(["captions", "--data-dir", str(tmp_path), str(coco_sample_json)]) == 0
    assert main(["translate", "--data-dir", str(tmp_path), "--model", str(tiny_marian_dir), "--limit", "5",
                 "--max-length", "8"]) == 0  # one 2,048-row shard by default: only 5 rows are translated
    assert "translation: partial: 280 rows (5 computed, 0 reused)" in capsys.readouterr().out


def test_a_partial_import_suggests_only_what_the_command_line_has(capsys, tmp_path, coco_sample_json):
    assert main(["captions", "--data-dir", str(tmp_path / "d"), "--limit", "10", str(coco_sample_json)]) == 0
    ids = cache.load_table(tmp_path / "d", "captions")["caption_id"].tolist()
    partial = tmp_path / "human_tr.tsv"
    partial.write_text("caption_id\ttr\n" + "".join(f"{i}\tbir cümle\n" for i in ids[:7]))
    capsys.readouterr()
    line = _error(capsys, ["translate", "--data-dir", str(tmp_path / "d"), "--backend", "import", "--import", str(partial)])
    assert "3 of 10 captions have no translation" in line and "(--backend marian)" in line
    assert "partial" not in line.split("have no translation")[1]  # no option that the command line lacks


def test_captions_with_karpathy_exclude_its_test_and_val_images_and_record_it(capsys, tmp_path, coco_sample_json):
    import json

    from tests.data_tools.test_captions import write_karpathy

    karpathy, splits = write_karpathy(coco_sample_json, tmp_path / "dataset_coco.json")
    mine = tmp_path / "mine.txt"
    mine.write_text("127092\n")
    data = str(tmp_path / "d")
    assert main(["captions", "--data-dir", data, "--karpathy", str(karpathy), "--exclude", "default",
                 "--exclude", str(mine), str(coco_sample_json)]) == 0
    out = capsys.readouterr().out
    assert f"exclusion list: XTD10 (default) + {mine} + Karpathy test+val" in out
    captions = cache.load_table(data, "captions")
    assert set(captions["split"]) == {"train", "restval"} and 127092 not in set(captions["image_id"])
    stats = json.loads((tmp_path / "d" / "manifest.json").read_text())["captions"]["stats"]
    assert [e["name"] for e in stats["exclusions"]] == ["XTD10 (default)", str(mine), "Karpathy test+val"]
    assert stats["exclusions"][2]["images"] == sum(sp in ("test", "val") for sp in splits.values())
    kept = str(tmp_path / "kept")
    assert main(["captions", "--data-dir", kept, "--karpathy", str(karpathy), "--exclude-karpathy", "none",
                 str(coco_sample_json)]) == 0
    assert "test" in set(cache.load_table(kept, "captions")["split"])
