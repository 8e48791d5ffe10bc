"""What `driftline run` shows a user: our own lines once (each stage, the gate, the table, the links), none of
the libraries' banners, tips, warnings or tracebacks; `--verbose` brings DVC's lines back."""

import re

import pytest

from tests.helpers.project import SLICE_ROWS, STAGES, cli, full_data, make_project

pytestmark = pytest.mark.slow
NOISE = re.compile(r"Tip:|GPU available|TPU available|Warning|warn\(|Traceback|Running stage|\| INFO|"
                   r"Updating lock file|deprecated|litlogger", re.IGNORECASE)


def test_a_run_prints_each_stage_once_and_nothing_of_the_libraries(tmp_path):
    root = make_project(tmp_path / "project", rows=3000)
    batch = tmp_path / "batch.csv"
    full_data().iloc[SLICE_ROWS:SLICE_ROWS + 500].to_csv(batch, index=False)
    done = cli(root, "run", "--batch", str(batch), check=False)
    lines = (done.stdout + done.stderr).splitlines()
    # a small slice's model may fail the gate (exit 2): then there is no champion, and monitoring says it skipped
    assert done.returncode in (0, 2), lines
    assert any("no champion yet" in line for line in lines) == (done.returncode == 2)
    assert [line for line in lines if NOISE.search(line)] == []
    for stage in STAGES:
        assert len([line for line in lines if line.startswith(f"{stage}: ")]) == 1, (stage, lines)
    assert any(line.startswith("version ") for line in lines) and any("Reports:" in line for line in lines)

    # every stage is up to date now: with --verbose, DVC says so, once per stage (no second, time-stamped copy)
    verbose = cli(root, "--verbose", "run", "--batch", str(batch), check=False)
    said = [line for line in verbose.stderr.splitlines() + verbose.stdout.splitlines() if "didn't change" in line]
    assert sorted(said) == sorted(f"Stage '{stage}' didn't change, skipping" for stage in STAGES)
