"""The report index's timeline costs nothing where there is nothing to draw: a fresh process that builds an index
without monitoring runs never imports matplotlib."""

import subprocess
import sys


def test_an_index_without_monitoring_runs_does_not_import_matplotlib(tmp_path):
    code = ("import sys; from pathlib import Path; from driftline.reporting.index import build_index; "
            f"text = build_index(Path({str(tmp_path)!r})).read_text(); "
            "print('matplotlib' in sys.modules, 'class=\"timeline\"' in text)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.split() == ["False", "False"]
