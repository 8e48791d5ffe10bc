"""Benchmark results name the commit they ran on, read from git."""

import subprocess

from benchmarks import record


def test_the_commit_is_marked_dirty_while_tracked_files_differ(tmp_path):
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    assert record.commit(tmp_path) == "unknown"  # not a git repository yet
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "tracked.txt").write_text("one\n")
    subprocess.run([*git, "add", "tracked.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], cwd=tmp_path, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()

    (tmp_path / "untracked.txt").write_text("not part of the commit\n")
    assert record.commit(tmp_path) == sha
    (tmp_path / "tracked.txt").write_text("two\n")
    assert record.commit(tmp_path) == f"{sha}-dirty"
