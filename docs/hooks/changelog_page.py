"""mkdocs hook: the site's changelog page is CHANGELOG.md at the repository root, read at build time."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File


def on_files(files, config):
    """Add CHANGELOG.md to the site as changelog.md (it lives outside docs/, where a repository expects it)."""
    source = Path(config.config_file_path).parent / "CHANGELOG.md"
    files.append(File.generated(config, "changelog.md", content=source.read_text()))
    return files
