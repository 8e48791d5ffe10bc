"""Every error driftline raises derives from DriftlineError, which the CLI and the stage entry points catch."""

import ast
import inspect
from pathlib import Path

from driftline import errors

SRC = Path(__file__).resolve().parents[2] / "src" / "driftline"
# Raised inside pydantic validators, which load_params turns into one ConfigError naming the key.
VALIDATORS = {"config.py", "schema.py"}


def test_every_error_class_derives_from_the_base():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert len(classes) > 5
    assert all(issubclass(c, errors.DriftlineError) for c in classes)


def test_the_code_raises_only_driftline_errors():
    """Every `raise X(...)` in the package names one of errors.py's classes (or the frameworks' own signals)."""
    ours = {name for name, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.DriftlineError)}
    signals = {"Exit", "BadParameter", "TrialPruned", "BentoMLException"}  # typer, optuna, BentoML HTTP answers
    found = []
    for path in SRC.rglob("*.py"):
        if path.name in VALIDATORS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if name not in ours | signals:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} raises {name}")
    assert not found, found
