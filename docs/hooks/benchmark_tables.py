"""mkdocs hook: docs/benchmarks.md gets its tables from benchmarks/results/<name>.json at build time.

Each benchmark writes {"benchmark", "commit", "date", "machine": {"cores", "cpu", "platform"},
"tables": [{"title", "columns", "rows", "note"?}]}. The page marks where each one goes with
`<!-- results: NAME -->`; a file whose name the page does not mark is shown at the end, so none is dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mdtable import code, table, text
from mkdocs.exceptions import PluginError

PAGE = "benchmarks.md"
MARKER = re.compile(r"<!-- results: ([\w-]+) -->")


def cell(value) -> str:
    """A table cell: numbers to 6 significant digits (no float noise), text escaped, null as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    return text(value)


def render(result: dict) -> str:
    """One benchmark run as Markdown: where and when it ran, then each of its tables."""
    machine = result["machine"]
    sha, dirty, flag = result["commit"].partition("-")  # "<sha>-dirty": tracked files differed from the commit
    parts = [f"Last recorded run: commit {code(sha[:10] + dirty + flag)}, {text(result['date'])}, "
             f"{machine['cores']} cores, {text(machine['cpu'])}, {text(machine['platform'])}.\n"]
    for entry in result["tables"]:
        parts.append(f"**{text(entry['title'])}**\n")
        parts.append(table([text(c) for c in entry["columns"]], [[cell(v) for v in row] for row in entry["rows"]]))
        if entry.get("note"):
            parts.append(f"_{text(entry['note'])}_\n")
    return "\n".join(parts)


def load(path: Path) -> str:
    """The results file at PATH rendered, or a build error that names the file and what is wrong with it."""
    try:
        return render(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise PluginError(f"{path}: {exc}") from None
    except (KeyError, TypeError, IndexError) as exc:  # a field of the contract missing or of the wrong kind
        raise PluginError(f"{path} does not follow the results contract: {exc!r}") from None


def fill(markdown: str, results_dir: Path) -> str:
    """MARKDOWN with each results marker replaced, and unmarked result files appended."""
    found = {path.stem: path for path in sorted(results_dir.glob("*.json"))}
    marked = set(MARKER.findall(markdown))

    def section(match: re.Match) -> str:
        path = found.get(match[1])
        if path is None:
            return f"_`{match[1]}` has no recorded run: `benchmarks/results/{match[1]}.json` does not exist._\n"
        return load(path)

    filled = MARKER.sub(section, markdown)
    extra = [f"### {name}\n\n{load(path)}" for name, path in found.items() if name not in marked]
    return filled + ("\n## Other results\n\n" + "\n".join(extra) if extra else "")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Fill the benchmarks page from the results folder next to mkdocs.yml."""
    if page.file.src_uri != PAGE:
        return markdown
    return fill(markdown, Path(config.config_file_path).parent / "benchmarks" / "results")
