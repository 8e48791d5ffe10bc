"""mkdocs hook: docs/reference/params.md gets every key of params.yaml from the pydantic model, at build time.

The descriptions are the `Field(description=...)` texts of src/driftline/config.py, their one source.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path

import yaml
from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from mdtable import code, table, text
from mkdocs.exceptions import PluginError
from pydantic import BaseModel

PAGE = "reference/params.md"
MARKER = "<!-- params-reference -->"
BOUNDS = {Ge: ("≥", "ge"), Gt: (">", "gt"), Le: ("≤", "le"), Lt: ("<", "lt")}


def inner_model(annotation) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds (directly, as map values or as list items) and the key suffix that reaches it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "."
    if origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
        return args[1], ".*."
    if origin is list and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], "[]."
    return None, ""


def type_name(annotation) -> str:
    """A reader's name for a field's type: `integer or null`, `one of a, b`, `list of text`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return "one of " + ", ".join(code(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is list:
        return "list of " + type_name(args[0]).replace("section", "sections")
    if origin is dict:
        return type_name(args[1]).replace("section", "sections") + " by name"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return {str: "text", int: "integer", float: "number", bool: "bool", Path: "path"}.get(annotation, str(annotation))


def constraints(field) -> list[str]:
    """The field's bounds, length limits and pattern, as `≥ 1` or `matches ^...$`."""
    found = []
    for rule in field.metadata:
        for kind, (sign, attribute) in BOUNDS.items():
            if isinstance(rule, kind):
                found.append(f"{sign} {getattr(rule, attribute)}")
        if isinstance(rule, MinLen):
            found.append(f"at least {rule.min_length} items")
        if isinstance(rule, MaxLen):
            found.append(f"at most {rule.max_length} items")
        if getattr(rule, "pattern", None):
            found.append("matches " + code(rule.pattern))
    return found


def shown(value) -> str:
    """A value as params.yaml writes it, in a code span: names bare, anything else as JSON (which YAML reads)."""
    return code(str(value) if isinstance(value, (str, Path)) and str(value) else json.dumps(value))


def rows(model: type[BaseModel], prefix: str, shipped) -> list[list[str]]:
    """One row per key of MODEL and of every section under it, depth first."""
    found = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = shipped.get(key) if isinstance(shipped, dict) else None
        nested, suffix = inner_model(field.annotation)
        about = field.description or ""
        if nested is not None and nested.__doc__:
            about = f"{about} {' '.join(nested.__doc__.split())}".strip()
        section = isinstance(field.default, BaseModel)  # a section that may be left out: its keys' defaults
        default = [] if field.is_required() else ["optional" if section else "default " + shown(field.default)]
        kind = ", ".join([text(type_name(field.annotation)), *constraints(field), *default])
        scalar = nested is None and value is not None and len(json.dumps(value)) <= 60
        found.append([code(prefix + key), kind, shown(value) if scalar else "", text(about)])
        if nested is not None:
            found += rows(nested, prefix + key + suffix, value if suffix == "." else None)
    return found


def reference(model: type[BaseModel], shipped: dict) -> str:
    """The Markdown reference: a section per top-level key, with a table of every key below it."""
    parts = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        nested, _ = inner_model(field.annotation)
        parts.append(f"## {key}\n\n{text(field.description or '')}\n")
        section = rows(nested, key + ".", shipped.get(key)) if nested else []
        parts.append(table(["key", "type", "params.yaml", "what it sets"], section))
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Put the generated reference where the params page holds its marker."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} has lost its {MARKER} marker")
    from driftline.config import Params

    shipped = yaml.safe_load((Path(config.config_file_path).parent / "params.yaml").read_text())
    return markdown.replace(MARKER, reference(Params, shipped))
