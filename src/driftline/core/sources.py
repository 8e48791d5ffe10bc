"""Where a batch comes from: a local path or fsspec URL read as bytes, printed without secrets, and the
quarantine folder that keeps a refused batch exactly as it was checked."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import fsspec

from driftline.errors import DataError


def shown(source: str) -> str:
    """SOURCE as it may be printed and stored: a URL without its query or fragment (which may hold a token)."""
    return urlsplit(source)._replace(query="", fragment="").geturl() if "://" in source else source


def source_name(source: str) -> str:
    """A safe file name for SOURCE: its path's last part, without a URL's query or fragment."""
    name = Path(urlsplit(source).path).name if "://" in source else Path(source).name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "batch"


def fetch(source: str) -> bytes:
    """The bytes of a local path or fsspec URL, raising DataError that names the source."""
    try:
        with fsspec.open(source, "rb") as handle:
            return handle.read()
    except (OSError, ImportError, ValueError) as exc:
        reason = str(exc)
        for secret in filter(None, (urlsplit(source).query, urlsplit(source).fragment)):
            reason = reason.replace(secret, "...")
        raise DataError(f"cannot read {shown(source)}: {reason}") from None


def quarantine(content: bytes | None, name: str, report: dict, docs: Path | None, folder: Path) -> Path:
    """Write the refused batch, its report and Data Docs into FOLDER, which appears whole or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp, "batch")
        staging.mkdir()
        if content is not None:
            (staging / name).write_bytes(content)
        (staging / "report.json").write_text(json.dumps(report, indent=1, default=str))
        if docs is not None and docs.exists():
            shutil.copytree(docs, staging / "docs")
        staging.rename(folder)
    return folder
