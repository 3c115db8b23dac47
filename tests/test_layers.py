"""The shape of the project, from its source with `ast` (nothing is imported): imports point down the layers and
no module imports another in a circle.

    inference.py (script: CLI + public encode_text / encode_image)       harness/, bench/ (outside the library)
    evaluation/          benchmarks, reports
    inference_api/       TextEncoder, ImageEncoder, zero-shot, search, TurkishCLIP
    distill/             the TF student                      (never imports torch)
    data_tools/          captions, translation, teacher vectors
    turkish_clip/        the core: errors, files, images, CLIP loading, metrics, batching, models, runtime
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

# rank: a module may import its own package and packages of a lower rank only
LAYERS = {"turkish_clip": 0, "data_tools": 1, "distill": 2, "inference_api": 3, "evaluation": 4, "inference": 5,
          "harness": 6, "bench": 6}
PACKAGES = [name for name in LAYERS if name != "inference"]


def module_files(root: Path = REPO) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package) for every project module, `inference` (the script) included."""
    found = {"inference": (root / "inference.py", False)}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imported_names(name: str, path: Path, is_package: bool) -> list[tuple[str, int]]:
    """(imported module or module.attribute, line) for every import statement, lazy ones inside functions too."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package that holds this module
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append((module, node.lineno))
            names += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return names


def import_graph(modules: dict[str, tuple[Path, bool]]) -> dict[str, dict[str, int]]:
    """module -> {project module it imports: first line}; third-party imports are left out."""
    graph = {}
    for name, (path, is_package) in modules.items():
        edges: dict[str, int] = {}
        for target, line in imported_names(name, path, is_package):
            while target and target not in modules:  # module.attribute -> module; unknown -> ""
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, colouring nodes on the current path)."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_violations(graph: dict[str, dict[str, int]], modules) -> list[str]:
    """'module (file:line) imports target' for every import pointing up a layer or across to a higher one."""
    bad = []
    for name, edges in graph.items():
        own = name.split(".")[0]
        for target, line in edges.items():
            other = target.split(".")[0]
            if other != own and LAYERS[other] >= LAYERS[own]:
                bad.append(f"{name} ({modules[name][0].relative_to(REPO)}:{line}) imports {target}")
    return bad


@pytest.fixture(scope="module")
def project():
    modules = module_files()
    return modules, import_graph(modules)


def test_the_graph_sees_every_package_and_real_edges(project):
    modules, graph = project
    assert {name.split(".")[0] for name in modules} == set(LAYERS)
    assert "turkish_clip.errors" in graph["data_tools.cache"]  # absolute import
    assert "distill.head" in graph["distill.student"]  # relative import (from .head import build_head)
    assert "distill.data" in graph["distill.student"]  # lazy import inside a function
    assert "turkish_clip.files" in graph["data_tools.shards"]  # from package import module


def test_no_import_cycles(project):
    _, graph = project
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_imports_point_down_the_layers(project):
    modules, graph = project
    assert layer_violations(graph, modules) == []


def test_the_core_imports_no_other_project_package(project):
    _, graph = project
    upward = {f"{name} -> {target}" for name, edges in graph.items() if name.startswith("turkish_clip")
              for target in edges if not target.startswith("turkish_clip")}
    assert upward == set()


def test_nothing_in_the_library_imports_the_inference_script(project):
    _, graph = project
    users = sorted(name for name, edges in graph.items() if "inference" in edges)
    assert all(name.startswith(("harness.", "bench.")) for name in users), users


# `python -m distill export` writes PyTorch formats (sentence-transformers, ONNX traced from PyTorch): these modules
# import torch inside their functions only, so training and `import distill...` never load it.
TORCH_EXPORTS = {"distill.onnx_export", "distill.sentence_transformers_export", "distill.torch_student"}


def test_distill_never_imports_torch(project):
    modules, _ = project
    torch_users = [name for name, (path, is_package) in modules.items() if name.startswith("distill")
                   and name not in TORCH_EXPORTS
                   and any(target.split(".")[0] == "torch" for target, _ in imported_names(name, path, is_package))]
    assert torch_users == []


def test_the_exports_import_torch_lazily_and_nothing_imports_them_at_module_level(project):
    modules, _ = project
    for name in TORCH_EXPORTS:
        top = ast.parse(modules[name][0].read_text(encoding="utf-8")).body  # module-level statements only
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m.split(".")[0] in ("torch", "onnx", "onnxruntime", "sentence_transformers")], name
    for name, (path, _) in modules.items():
        top = ast.parse(path.read_text(encoding="utf-8")).body
        eager = {n.module for n in top if isinstance(n, ast.ImportFrom) and n.module} | {
            a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        if name not in TORCH_EXPORTS:
            assert not eager & TORCH_EXPORTS, f"{name} imports an export module at module level"


def test_checks_catch_a_cycle_and_an_upward_import(tmp_path):
    graph = {"turkish_clip.a": {"data_tools.b": 3}, "data_tools.b": {"turkish_clip.a": 1}, "distill.c": {}}
    assert find_cycle(graph) == ["data_tools.b", "turkish_clip.a", "data_tools.b"]
    modules = {name: (REPO / "x.py", False) for name in graph}
    assert layer_violations(graph, modules) == ["turkish_clip.a (x.py:3) imports data_tools.b"]
    assert find_cycle({"a": {"b": 1}, "b": {}}) is None
