"""dvc.yaml lists, for every stage, exactly the code it runs and only the params it reads."""

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
BENTO = yaml.safe_load((REPO / "bentofile.yaml").read_text())


def module_file(name: str) -> Path | None:
    """The repository file of a driftline or pipelines module, or None for other packages."""
    parts = name.split(".")
    if parts[0] == "driftline":
        base = REPO / "src" / Path(*parts)
    elif parts[0] == "pipelines":
        base = REPO / Path(*parts)
    else:
        return None
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


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
            todo += [f for f in map(module_file, names) if f is not None and f.is_file()]
    return {str(p.relative_to(REPO)) for p in seen}


def code_deps(stage: str) -> set[str]:
    return {d for d in DVC[stage].get("deps", []) if d.startswith(("src/", "pipelines/"))}


@pytest.mark.parametrize("stage", sorted(DVC))
def test_each_stage_depends_on_exactly_the_code_it_runs(stage):
    expected = closure(REPO / "pipelines" / f"{stage}.py")
    if stage == "package":  # the bento carries the service and what it imports
        expected |= closure(REPO / "src/driftline/service.py")
    assert code_deps(stage) == expected


def test_the_bento_includes_exactly_the_service_code():
    assert {f"src/{p}" for p in BENTO["include"]} == closure(REPO / "src/driftline/service.py")


def test_editing_sensitive_attributes_retrains_nothing():
    reads_sensitive = {
        stage for stage, spec in DVC.items() for key in spec.get("params", []) if key in ("schema", "schema.sensitive")
    }
    assert reads_sensitive == {"validate", "audit"}
