"""Where a batch comes from: a local path or fsspec URL read as bytes (gzipped or not), printed without
secrets, and the quarantine folder that keeps a refused batch exactly as it was checked.

Copies of a local file keep its permission bits, never wider: a batch readable by its owner alone stays so
in quarantine/ and the data folder.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
import shutil
import stat
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import fsspec
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from driftline.errors import DataError, IngestError

GZIP_MAGIC = b"\x1f\x8b"  # how every gzip file begins, whatever its name says


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


def unpacked(content: bytes, name: str) -> bytes:
    """CONTENT as the CSV it holds: gunzipped where it is gzip, known by its first bytes (a `.csv.gz`, or a
    gzip file named `.csv`); a DataError naming NAME where it is broken gzip."""
    if not content.startswith(GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as exc:  # OSError: gzip.BadGzipFile; EOFError: a truncated file
        raise DataError(f"{name} is not a readable gzip file: {exc}") from None


def local_file(source: str, root: Path) -> Path | None:
    """SOURCE's file on this machine; None for a remote URL (or one whose filesystem is not installed: fetch
    says so). A symlink whose target lies outside the project ROOT is refused: what ingest reads it copies
    into the project, and the link may lead anywhere (a private key, say)."""
    try:
        filesystem, found = url_to_fs(source)
    except (ImportError, ValueError):
        return None
    if not isinstance(filesystem, LocalFileSystem):
        return None
    path, target = Path(found), Path(os.path.realpath(found))  # realpath: unlike Path.resolve, no error on a loop
    if path.is_symlink() and not target.is_relative_to(os.path.realpath(root)):
        raise IngestError(f"{shown(source)} is a symlink to {target}, outside the project: refused, since ingest "
                          "copies what it reads into the project; copy the file in if it is meant to be ingested")
    return path


def permission_bits(path: Path | None) -> int | None:
    """The permission bits of the file at PATH (a symlink's target's), for the copies to keep; None without a
    local file, or where it is not there (fetch names that)."""
    try:
        return None if path is None else stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def opener(mode: int | None) -> Callable[[str, int], int]:
    """An `open` opener that creates files with MODE's permission bits from the start (narrowed by the umask, as
    every new file is), Python's default where MODE is None."""
    return functools.partial(os.open, mode=0o666 if mode is None else mode)


def folder_mode(mode: int | None) -> int:
    """The bits of a folder that holds a copy of a file of MODE and what was learnt from it: the owner's all,
    the group's and others' read and search only where MODE lets them read. The default where MODE is None."""
    if mode is None:
        return 0o777
    readers = mode & 0o044
    return 0o700 | readers | readers >> 2


def quarantine(content: bytes | None, name: str, report: dict, docs: Path | None, folder: Path,
               mode: int | None = None) -> Path:
    """Write the refused batch, its report and Data Docs into FOLDER, which appears whole or not at all. The
    batch keeps MODE (its source's permission bits), and FOLDER lets in only who may read it (folder_mode):
    the report and the docs quote its values."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        staging = Path(tmp, "batch")
        staging.mkdir(mode=folder_mode(mode))
        if content is not None:
            with open(staging / name, "wb", opener=opener(mode)) as batch:
                batch.write(content)
        (staging / "report.json").write_text(json.dumps(report, indent=1, default=str))
        if docs is not None and docs.exists():
            shutil.copytree(docs, staging / "docs")
        staging.rename(folder)
    return folder
