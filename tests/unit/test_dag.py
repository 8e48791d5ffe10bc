"""dvc.yaml lists, for every stage, exactly the code it runs and only the params it reads; the layers hold."""

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "driftline"
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
BENTO = yaml.safe_load((REPO / "bentofile.yaml").read_text())
# The library: what stages use. It never imports a stage, the orchestration or the CLI.
LIBRARY = ("core", "registry", "release", "serving", "monitoring", "reporting")


def module_files(name: str) -> list[Path]:
    """The repository files that importing a driftline or pipelines module runs: the module and each parent
    package's __init__.py; none for other packages."""
    parts = name.split(".")
    if parts[0] == "driftline":
        root = REPO / "src"
    elif parts[0] == "pipelines":
        root = REPO
    else:
        return []
    found = [root.joinpath(*parts[:n], "__init__.py") for n in range(1, len(parts))]
    base = root.joinpath(*parts)
    found.append(base / "__init__.py" if base.is_dir() else base.with_suffix(".py"))
    return [f for f in found if f.is_file()]


def closure(*files: Path) -> set[str]:
    """Every project file that FILES import, directly or not (also imports inside functions)."""
    seen, todo = set(), list(files)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            todo += [f for name in names for f in module_files(name)]
    return {str(p.relative_to(REPO)) for p in seen}


def code_deps(stage: str) -> set[str]:
    return {d for d in DVC[stage].get("deps", []) if d.startswith(("src/", "pipelines/"))}


def stage_code(stage: str) -> set[str]:
    """What a dvc.yaml stage runs: its entry point's imports, and for package the service the bento carries."""
    expected = closure(REPO / "pipelines" / f"{stage}.py")
    if stage == "package":
        expected |= closure(SRC / "serving/service.py")
    return expected


@pytest.mark.parametrize("stage", sorted(DVC))
def test_each_stage_depends_on_exactly_the_code_it_runs(stage):
    assert code_deps(stage) == stage_code(stage)


def test_the_bento_includes_exactly_the_service_code():
    assert {f"src/{p}" for p in BENTO["include"]} == closure(SRC / "serving/service.py")


def stage_modules() -> dict[str, Path]:
    """Each stage module under src/driftline/stages: a file, or a folder's __init__.py."""
    found = {p.stem: p for p in (SRC / "stages").glob("*.py") if p.name != "__init__.py"}
    return found | {p.parent.name: p for p in (SRC / "stages").glob("*/__init__.py")}


@pytest.mark.parametrize("stage", sorted(stage_modules()))
def test_no_stage_imports_another_stage(stage):
    own = stage_modules()[stage]
    own_prefix = str(own.parent.relative_to(REPO)) if own.name == "__init__.py" else str(own.relative_to(REPO))
    imported = {f for f in closure(own) if f.startswith("src/driftline/stages/") and not f.startswith(own_prefix)}
    assert imported <= {"src/driftline/stages/__init__.py"}, f"{stage} imports {sorted(imported)}"


@pytest.mark.parametrize("layer", LIBRARY)
def test_the_library_imports_no_stage_flow_or_cli(layer):
    files = sorted((SRC / layer).rglob("*.py"))
    upward = {f for f in closure(*files) if f.startswith(("src/driftline/stages", "src/driftline/orchestration",
                                                          "src/driftline/cli"))}
    assert not upward, f"{layer} imports {sorted(upward)}"


def test_entry_points_hold_no_logic():
    """pipelines/ and flows/ only call into the package: no function of theirs is longer than a few lines."""
    for path in [*(REPO / "pipelines").glob("*.py"), *(REPO / "flows").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                assert node.end_lineno - node.lineno <= 10, f"{path.name}:{node.name} holds logic"


def test_editing_sensitive_attributes_retrains_nothing():
    reads_sensitive = {
        stage for stage, spec in DVC.items() for key in spec.get("params", []) if key in ("schema", "schema.sensitive")
    }
    assert reads_sensitive == {"validate", "audit"}
