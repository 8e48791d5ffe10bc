"""The run index (newest first, badges, relative links, escaping) and Data Docs without CDN fetches."""

import json
import re
import runpy
import sys
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import pytest

from driftline.reporting.datadocs import CDN, VENDOR, make_offline
from driftline.reporting.index import build_index

HOSTILE = "<script>alert(1)</script>"
# A tag that fetches its target: a script, a stylesheet or an image (anchors only link).
ASSET = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"([^\"]*)\"", re.IGNORECASE)


def write(path: Path, content: str | dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content) if isinstance(content, dict) else content)
    return path


def training_run(reports: Path, version: str, created: str, blessed: bool, aliases: list[str], links: dict) -> Path:
    folder = reports / "runs" / version
    write(folder / "run.json", {
        "version": version, "created": created, "blessed": blessed, "promoted": blessed, "aliases": aliases,
        "summary": f"roc_auc=0.91 for {version}", "links": links,
    })
    return folder


def monitoring_run(reports: Path, created: str, folder: str, **summary) -> None:
    out = reports / "monitoring" / created[:10] / folder
    write(out / "report.html", "<html><body>drift</body></html>")
    write(out / "summary.json", {"created": created, "rows": 100, "report": str(out / "report.html")} | summary)


@pytest.fixture
def reports(tmp_path) -> Path:
    reports = tmp_path / "reports"
    old = training_run(reports, "old1", "2026-11-20T10:00:00+00:00", True, ["champion"], {
        "contract": "docs/index.html", "audit": "audit/shap_beeswarm.png", "card": "card.md", "gate": "blessing.json",
    })
    write(old / "docs" / "index.html", "<html>docs</html>")
    write(old / "audit" / "shap_beeswarm.png", "png")
    write(old / "card.md", "# Model card\n\nSee <b>bold</b> & co.")
    write(old / "blessing.json", {"blessed": True, "checks": [
        {"name": "roc_auc", "kind": "value", "value": 0.9108, "threshold": ">= 0.9", "passed": True},
        {"name": "auc_vs_champion", "kind": "change", "value": None, "threshold": ">= -0.01", "passed": True},
    ]})
    new = training_run(reports, "new2", "2026-11-22T09:00:00Z", False, [], {
        "contract": "docs/index.html", "audit": "../../../etc/passwd", "gate": "blessing.json",
    })  # its docs were never written, and its audit link points outside the run
    write(new / "blessing.json", {"blessed": False, "checks": [
        {"name": "roc_auc", "kind": "value", "value": 0.5, "threshold": ">= 0.9", "passed": False},
    ]})
    monitoring_run(reports, "2026-11-21T120000.000000Z", "120000.000000Z-batch", batch="batch",
                   dataset_drift=False, drifted_columns=[])
    monitoring_run(reports, "2026-11-23T080000.000000Z", "080000.000000Z-<b>", batch=HOSTILE,
                   dataset_drift=True, drifted_columns=["age"])
    return reports


def entries(index: Path) -> list[dict]:
    """Each listed run: its title, badges and links (label to href, None where absent)."""
    found = []
    for item in index.read_text().split('<li class="run"')[1:]:
        links = {unescape(label): unescape(href) for href, label in re.findall(r'<a href="([^"]*)">([^<]*)</a>', item)}
        links |= {unescape(label): None for label in re.findall(r'class="absent" title="absent">([^<]*)<', item)}
        found.append({
            "title": unescape(re.search(r'class="title"[^>]*>([^<]*)<', item).group(1)),
            "badges": [unescape(b) for b in re.findall(r'class="badge \w+">([^<]*)<', item)],
            "links": links,
        })
    return found


def test_the_index_lists_training_and_monitoring_runs_newest_first(reports):
    listed = entries(build_index(reports.parent))
    assert [e["title"] for e in listed] == [HOSTILE, "new2", "batch", "old1"]
    assert [e["badges"] for e in listed] == [["drift"], ["not blessed"], ["no drift"], ["blessed", "champion"]]


def test_links_are_relative_and_absent_files_are_not_linked(reports):
    listed = {e["title"]: e["links"] for e in entries(build_index(reports.parent))}
    assert listed["old1"] == {
        "contract report": "runs/old1/docs/index.html", "audit plots": "runs/old1/audit/shap_beeswarm.png",
        "model card": "runs/old1/index.html#card", "gate result": "runs/old1/index.html#gate",
    }
    assert listed["new2"] == {
        "contract report": None, "audit plots": None, "model card": None, "gate result": "runs/new2/index.html#gate",
    }
    hrefs = [h for links in listed.values() for h in links.values() if h is not None]
    assert all((reports / unquote(h.split("#")[0])).is_file() for h in hrefs)
    assert listed[HOSTILE]["drift report"] == "monitoring/2026-11-23/080000.000000Z-%3Cb%3E/report.html"


def test_text_from_the_runs_is_escaped(reports):
    text = build_index(reports.parent).read_text()
    assert "<script" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_each_training_run_gets_a_readable_page_with_its_gate_and_card(reports):
    build_index(reports.parent)
    page = (reports / "runs" / "old1" / "index.html").read_text()
    assert "<td>roc_auc</td><td>value</td><td>0.9108</td><td>&gt;= 0.9</td>" in page
    assert "<td>auc_vs_champion</td><td>change</td><td>n/a</td>" in page
    assert "See &lt;b&gt;bold&lt;/b&gt; &amp; co." in page
    assert all((reports / "runs" / "old1" / unquote(src)).is_file() for src in ASSET.findall(page))
    assert '<a href="../../index.html">' in page


def test_an_unreadable_run_is_skipped_and_an_empty_project_gets_an_index(tmp_path):
    write(tmp_path / "reports" / "runs" / "broken" / "run.json", "{not json")
    assert "No runs yet." in build_index(tmp_path).read_text()


def test_the_module_rebuilds_the_index_from_the_command_line(reports, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["python -m driftline.reporting", str(reports.parent)])
    runpy.run_module("driftline.reporting", run_name="__main__")  # as `python -m` runs it, in this process
    assert len(entries(reports / "index.html")) == 4


def test_every_cdn_address_has_a_vendored_file():
    assert all((VENDOR / path).is_file() for path in CDN.values())


def test_offline_pages_point_at_the_vendored_copies_and_drop_the_rest(tmp_path):
    scripts = "".join(f'<script src="{url}" integrity="sha384-x" crossorigin="anonymous"></script>' for url in CDN)
    page = write(tmp_path / "docs" / "validations" / "suite" / "run.html", (
        f"<html><head>{scripts}<script src=\"https://cdn.example.org/chart.js\"></script>"
        "<style>a { background: url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo.png') }"
        "</style></head><body><a href=\"https://greatexpectations.io\">GE</a></body></html>"
    ))
    write(tmp_path / "docs" / "static" / "images" / "logo-long.png", "png")
    assert make_offline(tmp_path / "docs") == ["https://cdn.example.org/chart.js"]
    text = page.read_text()
    assert not re.search(r"https?://(?!greatexpectations\.io\")", text)  # the link to GE's site stays
    assert "integrity" not in text and "crossorigin" not in text
    assert all((page.parent / src).is_file() for src in ASSET.findall(text))
    assert "url('../../static/images/logo-long.png')" in text


def test_data_docs_fetch_nothing_from_the_network(params, tmp_path):
    from driftline.core.contract import check
    from tests.helpers.project import full_data

    docs = tmp_path / "docs"
    check(full_data().head(200).replace({"?": None}), params.schema, params.validation, docs)
    pages = list(docs.rglob("*.html"))
    assert len(pages) == 3  # the index, the suite, one validation result
    for page in pages:
        text = page.read_text()
        assets = ASSET.findall(text)
        assert assets and not [a for a in assets if re.match(r"https?:|//", a)], page
        assert not re.search(r"url\(['\"]?(https?:)?//", text), page
        assert all((page.parent / a).is_file() for a in assets), page
        assert "vegaEmbed" not in text  # a chart would need vega, which is not vendored
