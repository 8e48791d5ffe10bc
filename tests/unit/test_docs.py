"""The docs: `mkdocs build --strict` passes, its references cover every command and key, the README stays short."""

import json
import re
import typing
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel

from driftline.cli import app
from driftline.config import Params

REPO = Path(__file__).resolve().parents[2]




def commands(command, name: str = "driftline") -> dict[str, object]:
    """Every command under the Typer app's root, by its full name."""
    found = {}
    if hasattr(command, "list_commands"):
        context = command.context_class(command, info_name=name)
        for sub in command.list_commands(context):
            child = command.get_command(context, sub)
            if not child.hidden:
                found |= {f"{name} {sub}": child} | commands(child, f"{name} {sub}")
    return found


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key of MODEL and of the sections under it, dotted; `*` for a map's names, `[]` for a list's items."""
    found = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        found.append(key)
        origin, args = typing.get_origin(field.annotation), typing.get_args(field.annotation)
        for inner, suffix in ((field.annotation, "."), (args[-1] if origin is dict else None, ".*."),
                              (args[0] if origin is list else None, "[].")):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found += keys(inner, key + suffix)
    return found


def sections(page: str) -> dict[str, str]:
    """Each h2 section of a built page, by its heading's text."""
    return {part.split("<", 1)[0]: part for part in re.split(r'<h2 id="[^"]*">', page)[1:]}


def test_the_cli_reference_has_every_command_and_option(site):
    documented = sections((site / "reference" / "cli.html").read_text())
    found = commands(typer.main.get_command(app))
    assert len(found) >= 10 and set(found) == set(documented)
    for name, command in found.items():
        options = [o for p in command.params if p.param_type_name == "option" and not p.hidden and p.name != "help"
                   for o in p.opts + p.secondary_opts]
        assert all(re.search(rf"<code>[^<]*{re.escape(o)}\b", documented[name]) for o in options), name


def test_the_params_reference_has_every_key(site):
    page = (site / "reference" / "params.html").read_text()
    every = keys(Params)
    assert "train.embedding.frequency_init_scale" in every and "schema.columns.*.type" in every
    assert "gate.champion[].metric" in every
    headings = sections(page)
    missing = [key for key in every if (key not in headings if "." not in key else f"<code>{key}</code>" not in page)]
    assert not missing  # a section is a heading, every key below it a row


def test_the_params_reference_takes_its_words_from_the_field_descriptions(site):
    page = (site / "reference" / "params.html").read_text()
    field = Params.model_fields["train"].annotation.model_fields["patience"]
    assert field.description and field.description in page


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
