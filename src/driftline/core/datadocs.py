"""Great Expectations Data Docs that render offline (each CDN asset swapped for a vendored copy) and reproducibly."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor"
# Every CDN address that GE 1.24.1's page templates load, and the vendored file of the same version
# (static/vendor/README.md says where each came from). GE asks for the unminified bootstrap-dark and
# filter-control stylesheets in places; the minified builds of the same release stand in for them.
CDN = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js@1.12.9/umd/popper.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap@4.3.1/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap@4.3.1/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table@1.19.1/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table@1.19.1/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table@1.19.1/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table@1.19.0/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table@1.19.0/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker@1.9.0/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker@1.9.0/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "bootstrap-dark@1.1.0/bootstrap-prefers-dark.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "fontawesome-free@6.6.0/css/all.min.css",
}
# GE's logos come from its S3 bucket (with a cache-busting query); the site ships its own copy.
GE_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.[\w.-]+/[\w.-]+\.png(?:\?[^\"')\s]*)?")
# GE's validation pages miscount their depth below the site root when they link its own images.
SITE_IMAGES = re.compile(r"\"(?:\./|(?:\.\./)+)static/images/")
# Subresource integrity needs a CORS fetch, which Chromium refuses for file:// pages.
SRI = re.compile(r"\s+(?:integrity|crossorigin)=\"[^\"]*\"")
# A tag that would still fetch from the network: a script, stylesheet or image with a remote address.
REMOTE_TAG = re.compile(
    r"<script\b[^>]*\bsrc=\"(https?://[^\"]*)\"[^>]*>\s*</script>"
    r"|<(?:link|img)\b[^>]*\b(?:href|src)=\"(https?://[^\"]*)\"[^>]*>",
    re.IGNORECASE,
)
# GE's collapsible blocks get a random UUID per render; numbered in page order they stay unique and stable.
COLLAPSE_ID = re.compile(r"(?<=-collapse-body-)[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}")

log = logging.getLogger(__name__)


def make_offline(docs_dir: Path) -> list[str]:
    """Copy the vendored assets into DOCS_DIR and point every page at them; returns the remote URLs it dropped.

    Random element ids are numbered too, so that the same validation gives the same bytes.

    A script, stylesheet or image whose address is not vendored is removed rather than left to fetch.
    GE's vega scripts go this way: none of the contract's renderers draws a chart.
    """
    shutil.copytree(VENDOR, docs_dir / "static" / "vendor", dirs_exist_ok=True)
    dropped: set[str] = set()
    for page in docs_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        offline = offline_page(text, Path(os.path.relpath(docs_dir, page.parent)).as_posix(), dropped)
        offline = stable_ids(offline)
        if offline != text:
            page.write_text(offline, encoding="utf-8")
    if dropped:
        log.debug("Data Docs: dropped assets that are not vendored: %s", ", ".join(sorted(dropped)))
    return sorted(dropped)


def offline_page(text: str, site: str, dropped: set[str]) -> str:
    """One page with its assets at SITE (the site root, relative to the page); adds removed URLs to DROPPED."""
    for url, path in CDN.items():
        text = text.replace(f'"{url}"', f'"{site}/static/vendor/{path}"')
    text = GE_LOGO.sub(f"{site}/static/images/logo-long.png", text)
    text = SITE_IMAGES.sub(f'"{site}/static/images/', text)
    text = SRI.sub("", text)

    def drop(match: re.Match) -> str:
        dropped.add(match.group(1) or match.group(2))
        return ""

    return REMOTE_TAG.sub(drop, text)


def stable_ids(text: str) -> str:
    """TEXT with each collapse id's UUID replaced by its order of first appearance (a link keeps its target)."""
    numbers: dict[str, int] = {}
    return COLLAPSE_ID.sub(lambda m: str(numbers.setdefault(m.group(), len(numbers))), text)
