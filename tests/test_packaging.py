"""pyproject.toml: every console script resolves, every library package and data file is shipped, the ranges
admit the exact pins of requirements.txt, and (slow) a built wheel holds exactly the library."""
from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from fnmatch import fnmatch

import pytest
from packaging.requirements import Requirement

from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
LIBRARY = ("turkish_clip", "data_tools", "distill", "evaluation", "inference_api")
SCRIPTS = {"turkish-clip": "inference", "turkish-clip-data": "data_tools", "turkish-clip-distill": "distill",
           "turkish-clip-eval": "evaluation"}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def _packages_on_disk() -> list[str]:
    return sorted(".".join(init.parent.relative_to(REPO).parts) for top in LIBRARY for init in (REPO / top).rglob("__init__.py"))


def test_console_scripts_point_at_callable_mains():
    scripts = PYPROJECT["project"]["scripts"]
    assert {name: target.split(".")[0].split(":")[0] for name, target in scripts.items()} == SCRIPTS
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), f"{name} -> {target}"


def test_every_library_package_and_the_inference_module_are_installed():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["py-modules"] == ["inference"]
    include = setuptools["packages"]["find"]["include"]
    shipped = [p for p in _packages_on_disk() if any(fnmatch(p, pattern) for pattern in include)]
    assert shipped == _packages_on_disk() and "inference_api" in shipped and "evaluation.labels" in shipped
    for outside in ("tests", "harness", "bench", "demo"):
        assert not any(fnmatch(outside, pattern) for pattern in include), outside


def test_every_data_file_of_the_library_is_package_data():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    files = [p for top in LIBRARY for p in (REPO / top).rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
             and "__pycache__" not in p.parts]
    assert files, "the library ships label and template files"
    for path in files:
        top = path.relative_to(REPO).parts[0]
        inner = str(path.relative_to(REPO / top))
        assert any(fnmatch(inner, pattern) for pattern in data.get(top, [])), f"{path.relative_to(REPO)} is not shipped"


def test_dependency_ranges_admit_the_exact_pins():
    pins = _pins()
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        name = requirement.name.lower()
        assert name in pins, f"{name} is a dependency but not pinned in requirements.txt"
        assert requirement.specifier.contains(pins[name]), f"{line} does not admit the pin {name}=={pins[name]}"
    assert "torch==2.13.0" in PYPROJECT["project"]["dependencies"]  # any other torch pulls the CUDA build
    assert PYPROJECT["build-system"]["requires"] == [f"setuptools=={pins['setuptools']}"]


@pytest.mark.slow
def test_built_wheel_holds_the_library_and_the_console_scripts(tmp_path):
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for top in LIBRARY:
        shutil.copytree(REPO / top, source / top, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "inference.py"):
        shutil.copy(REPO / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("turkish_clip-0.1.0-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("inference.py", "turkish_clip/runtime.py", "inference_api/api.py", "inference_api/templates.tsv",
                     "inference_api/web/index.html", "inference_api/web/app.js",
                     "evaluation/labels/cifar100.tsv", "data_tools/resources/xtd10_image_ids.tsv",
                     "distill/__main__.py"):
        assert expected in names, expected
    assert not [n for n in names if n.split("/")[0] in ("tests", "harness", "bench", "demo")]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert re.search(r"^turkish-clip = inference:main$", text, re.M)
    assert all(f"{name} = " in text for name in SCRIPTS)
