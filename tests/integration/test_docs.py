"""The docs site as `mkdocs build --strict` writes it (the session's `site`): its references cover every command
and every params key, in the fields' own words."""

import re
import typing
from pathlib import Path

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
