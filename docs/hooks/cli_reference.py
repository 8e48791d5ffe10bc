"""mkdocs hook: docs/reference/cli.md gets every command and option of the Typer app, read at build time."""

from __future__ import annotations

import typing
from pathlib import Path

import typer
from mdtable import code, table, text
from mkdocs.exceptions import PluginError

PAGE = "reference/cli.md"
MARKER = "<!-- cli-reference -->"
TYPES = {str: "text", Path: "path", int: "integer", float: "number", bool: "flag"}

# Typer 0.29 builds on its own copy of click, so commands and parameters are read by what they have
# (list_commands, param_type_name, type_descriptor), never by isinstance against click's classes.


def commands(command, name: str = "driftline") -> list[tuple[str, object]]:
    """COMMAND and everything under it, each with its full name, in the app's own order."""
    found = [(name, command)]
    if hasattr(command, "list_commands"):
        context = command.context_class(command, info_name=name)
        for sub in command.list_commands(context):
            child = command.get_command(context, sub)
            if child is not None and not child.hidden:
                found += commands(child, f"{name} {sub}")
    return found


def kind(param) -> str:
    """A reader's name for what PARAM takes: text, path, integer, number, flag; repeatable; its bounds."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]
    shown = TYPES.get(annotation) or getattr(getattr(param, "type", None), "name", None) or str(annotation)
    if param.multiple:
        shown += ", repeatable"
    for bound, sign in (("min", "≥"), ("max", "≤")):
        if getattr(param, bound, None) is not None:
            shown += f", {sign} {getattr(param, bound)}"
    return shown


def usage(name: str, params: list) -> str:
    """The usage line, such as `driftline predict [OPTIONS] SOURCE` (arguments in capitals, as help texts say)."""
    pieces = [name] + (["[OPTIONS]"] if any(p.param_type_name == "option" for p in params) else [])
    for param in params:
        if param.param_type_name == "argument":
            argument = param.name.upper() + ("..." if param.nargs == -1 else "")
            pieces.append(argument if param.required else f"[{argument}]")
    return " ".join(pieces)


def option_row(param) -> list[str]:
    """One table row: how to write PARAM, what it takes, its default and its help."""
    if param.param_type_name == "argument":
        names = code(param.name.upper())
    else:
        names = code("/".join(param.opts + param.secondary_opts) if param.secondary_opts else ", ".join(param.opts))
        if param.metavar:
            names = code(f"{', '.join(param.opts)} {param.metavar}")
    if param.required:
        default = "required"
    elif param.default in (None, [], ()) or (getattr(param, "is_flag", False) and param.default is False):
        default = ""
    else:
        default = code(param.default)
    return [names, text(kind(param)), default, text(param.help or "")]


def first_line(help_text: str | None) -> str:
    """The first sentence of a docstring, its summary."""
    return (help_text or "").strip().split("\n\n")[0]


def paragraphs(help_text: str | None) -> str:
    """A docstring's paragraphs as Markdown paragraphs."""
    return "".join(text(p) + "\n\n" for p in (help_text or "").strip().split("\n\n") if p.strip())


def command_section(name: str, command) -> str:
    """A command's heading, its help, its usage line and a table of its arguments and options."""
    params = [p for p in command.params if not p.hidden and p.name != "help"]
    parts = [f"## {name}\n", paragraphs(command.help), f"```text\n{usage(name, params)}\n```\n"]
    if params:
        parts.append(table(["argument or option", "takes", "default", "what it does"], [option_row(p) for p in params]))
    return "\n".join(parts)


def reference(app: typer.Typer) -> str:
    """The Markdown reference of APP: the app's own help, then one section per command."""
    (_, root), *rest = commands(typer.main.get_command(app))
    summary = table(["command", "what it does"], [[f"[{name}](#{name.replace(' ', '-')})", text(first_line(c.help))]
                                                  for name, c in rest])
    return "\n".join([paragraphs(root.help), summary, *(command_section(name, command) for name, command in rest)])


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Put the generated reference where the CLI page holds its marker."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} has lost its {MARKER} marker")
    from driftline.cli import app

    return markdown.replace(MARKER, reference(app))
