"""The CLI starts light: a fresh process imports none of the heavy libraries."""

import subprocess
import sys


def test_the_cli_starts_without_heavy_libraries():
    heavy = ["great_expectations", "evidently", "bentoml", "torch", "dvc", "prefect", "pandas"]
    code = f"import sys, driftline.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
