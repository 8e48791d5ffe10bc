"""The docs: the README stays a front page, and the hooks that fill the pages (the built site's own tests are in
tests/integration/test_docs.py)."""

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_the_readme_is_a_front_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make run" in readme and "make test" in readme and "make test-slow" in readme


def test_the_docs_name_only_paths_that_exist():
    """A module, test or benchmark the manual points to exists: a move that forgets the docs fails here."""
    named_path = re.compile(r"(?<![\w./-])(?:src/driftline|tests|benchmarks|pipelines|flows)/[\w./-]*[\w/]")
    pages = [REPO / "README.md", *(REPO / "docs").rglob("*.md")]  # not CHANGELOG.md: history names what was
    named = {path for page in pages for path in named_path.findall(page.read_text())} - {"benchmarks/results/"}
    assert "src/driftline/core/encoding.py" in named
    assert not [path for path in named if not (REPO / path).exists()]


def load_hook(name: str, monkeypatch):
    """A docs hook module, imported as mkdocs imports it (its folder on sys.path)."""
    monkeypatch.syspath_prepend(str(REPO / "docs" / "hooks"))
    return __import__(name)


def test_benchmark_tables_come_from_the_results_files(tmp_path, monkeypatch):
    hook = load_hook("benchmark_tables", monkeypatch)
    result = {"benchmark": "serve", "commit": "0123456789abcdef", "date": "2026-11-28T10:00:00Z",
              "machine": {"cores": 2, "cpu": "Example CPU", "platform": "Linux-6.1-x86_64"},
              "tables": [{"title": "throughput", "columns": ["mode", "req/s", "ratio to floor", "ok"],
                          "rows": [["log on", 458.123456789, 0.82, True], ["floor", 556, None, False]],
                          "note": "32 clients | one record each"}]}
    (tmp_path / "serve.json").write_text(json.dumps(result))
    (tmp_path / "extra.json").write_text(json.dumps(result | {"benchmark": "extra", "commit": "fedcba9876543-dirty"}))
    page = hook.fill("# Benchmarks\n\n## serve\n\n<!-- results: serve -->\n\n## model\n\n<!-- results: model -->\n",
                     tmp_path)
    serve = page[page.index("## serve"):page.index("## model")]
    assert "commit `0123456789`, 2026-11-28T10:00:00Z, 2 cores, Example CPU, Linux-6.1-x86_64" in serve
    assert "| mode | req/s | ratio to floor | ok |" in serve
    assert "| log on | 458.123 | 0.82 | yes |" in serve and "| floor | 556 | - | no |" in serve
    assert "_32 clients \\| one record each_" in serve
    model = page[page.index("## model"):page.index("## Other results")]
    assert "`model` has no recorded run" in model and "|" not in model
    assert "### extra" in page[page.index("## Other results"):] and "commit `fedcba9876-dirty`" in page


def test_a_broken_results_file_fails_the_build_naming_it(tmp_path, monkeypatch):
    hook = load_hook("benchmark_tables", monkeypatch)
    (tmp_path / "serve.json").write_text(json.dumps({"benchmark": "serve", "commit": "abc", "tables": []}))
    with pytest.raises(hook.PluginError, match="serve.json"):
        hook.fill("<!-- results: serve -->", tmp_path)
