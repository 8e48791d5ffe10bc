"""reports/index.html: every training and monitoring run, newest first, linked by relative paths only; and
reports/history.html, the ledger (reporting.ledger) of the project whose params.yaml is at the root."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from urllib.parse import quote

from driftline.core import layout
from driftline.errors import DriftlineError
from driftline.monitoring.summary import Summary
from driftline.release.blessing import Blessing
from driftline.reporting.ledger import ledger, read_json, read_record
from driftline.reporting.timeline import write_timelines

# The keys of run.json's "links" (each relative to the run's folder), in the order the index shows them.
RUN_LINKS = {"contract": "contract report", "audit": "audit plots", "card": "model card", "gate": "gate result"}
# Markdown and JSON read best on the run's own page, where these keys are anchors.
ON_RUN_PAGE = ("card", "gate")
IMAGES = (".png", ".svg", ".jpg", ".jpeg", ".gif", ".webp")
LEDGER = "history.html"  # under reports/, beside index.html
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1500px; padding: 0 1rem; color: #222; }
.columns { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
.columns > ol.runs { flex: 1 1 460px; min-width: 0; }
.timeline { flex: 1 1 560px; min-width: 0; } .timeline figure { margin: .6rem 0 1.2rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.muted, time { color: #666; } ol.runs { list-style: none; padding: 0; }
ol.runs li { border: 1px solid #ddd; border-radius: 6px; padding: .6rem .9rem; margin: .6rem 0; }
.kind { text-transform: uppercase; font-size: .75rem; letter-spacing: .05em; color: #555; }
.title { font-weight: 600; } .summary { margin: .25rem 0; }
.badge { display: inline-block; border-radius: 10px; padding: 0 .55rem; font-size: .8rem; color: #fff; }
.ok { background: #1a7f37; } .bad { background: #cf222e; } .info { background: #57606a; }
.links a, .links .absent { margin-right: 1rem; } .absent { color: #999; text-decoration: line-through; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; }
pre { background: #f6f8fa; padding: 1rem; overflow-x: auto; white-space: pre-wrap; } img { max-width: 100%; }
"""

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """One run as the index lists it; hrefs are relative to reports/ and None where the file is absent."""

    created: datetime
    kind: str
    title: str
    title_href: str | None
    badges: list[tuple[str, str]]  # (text, tone): tone is ok, bad or info
    summary: str
    links: list[tuple[str, str | None]]


def build_index(root: Path) -> Path:
    """Write ROOT/reports/index.html, and a page per training run, from what the runs left; returns its path.

    Training runs are reports/runs/<version>/run.json; monitoring runs are
    reports/monitoring/<date>/<time>-<batch>/summary.json beside their report.html, and beside the list their
    timeline figures (reporting.timeline) show them over time. Where ROOT has a params.yaml, the ledger's page
    (history.html) is written too, and linked.
    """
    reports = root / "reports"
    entries = [training_entry(reports, path) for path in sorted(reports.glob("runs/*/run.json"))]
    summaries = {path: read_record(path, Summary) for path in sorted(reports.glob("monitoring/*/*/summary.json"))}
    summaries = {path: summary for path, summary in summaries.items() if summary is not None}
    entries += [monitoring_entry(reports, path, summary) for path, summary in summaries.items()]
    entries = sorted((e for e in entries if e is not None), key=lambda e: e.created, reverse=True)
    trained = sum(e.kind == "training" for e in entries)
    history = write_ledger_page(root, reports)
    header = (
        f"<h1>driftline reports</h1><p class=\"muted\">{trained} training run(s) and {len(entries) - trained} "
        f"monitoring run(s), newest first. Updated {stamp(datetime.now(timezone.utc))}.</p>"
        + (f'<p><a href="{LEDGER}">The ledger</a>: every batch, training run, verdict, alias move, rollout and '
           "alert, with its evidence.</p>" if history else "")
    )
    items = "".join(render_entry(e) for e in entries) or "<li>No runs yet.</li>"
    index = reports / "index.html"
    index.parent.mkdir(parents=True, exist_ok=True)
    timeline = render_timeline(write_timelines(reports, list(summaries.values())), reports)
    body = f"{header}<div class=\"columns\">{timeline}<ol class=\"runs\">{items}</ol></div>"
    index.write_text(page("driftline reports", body), encoding="utf-8")
    return index


def write_ledger_page(root: Path, reports: Path) -> Path | None:
    """Write reports/history.html, the ledger newest first with relative links to each entry's evidence; None
    (and no page, a stale one removed) without a readable params.yaml at ROOT or registry (logged)."""
    from driftline.config import load_params

    path = reports / LEDGER
    try:
        entries = ledger(load_params(root / "params.yaml"), root) if (root / "params.yaml").is_file() else None
    except DriftlineError as error:
        log.warning("no ledger page: %s", error)
        entries = None
    if entries is None:
        path.unlink(missing_ok=True)
        return None
    rows = "".join(render_ledger_row(item, root, reports) for item in reversed(entries))
    body = (
        '<p><a href="index.html">All runs</a></p><h1>The ledger</h1>'
        f'<p class="muted">{len(entries)} entries, newest first, built from the records the stages write '
        "(<code>driftline history</code> lists the same). Updated " + stamp(datetime.now(timezone.utc)) + ".</p>"
        "<table><tr><th>time</th><th>kind</th><th>subject</th><th>summary</th><th>evidence</th></tr>"
        + (rows or '<tr><td colspan="5">Nothing recorded yet.</td></tr>') + "</table>"
    )
    reports.mkdir(parents=True, exist_ok=True)
    path.write_text(page("driftline ledger", body), encoding="utf-8")
    return path


def render_ledger_row(item: dict, root: Path, reports: Path) -> str:
    """One ledger entry as a table row; its evidence linked relative to reports/ (struck through when absent)."""
    evidence = root / item["evidence"] if item["evidence"] else None
    target = href(evidence, reports) if evidence is not None and evidence.exists() else None
    cells = [f'<time datetime="{escape(item["time"])}">{stamp(datetime.fromisoformat(item["time"]))}</time>',
             f'<span class="kind">{escape(item["kind"])}</span>', escape(item["subject"]), escape(item["summary"]),
             link(target, item["evidence"] or "none")]
    return f'<tr data-kind="{escape(item["kind"])}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def training_entry(reports: Path, run_json: Path) -> Entry | None:
    """The index entry of one training run; also writes the run's own page (card and gate, readable)."""
    run = read_json(run_json)
    if run is None:
        return None
    folder = run_json.parent
    links = run.get("links") if isinstance(run.get("links"), dict) else {}
    targets = {key: inside(folder, links.get(key)) for key in RUN_LINKS}
    run_page = folder / "index.html"
    run_page.write_text(render_run_page(run, folder, targets), encoding="utf-8")
    hrefs = []
    for key, label in RUN_LINKS.items():
        if targets[key] is not None and key in ON_RUN_PAGE:
            hrefs.append((label, href(run_page, reports, f"#{key}")))
        else:
            hrefs.append((label, href(targets[key], reports)))
    badges = [("blessed", "ok") if run.get("blessed") else ("not blessed", "bad")]
    badges += [(alias, "info") for alias in shown_aliases(run)]
    return Entry(
        created=parse_time(run.get("created"), run_json), kind="training", title=str(run.get("version", folder.name)),
        title_href=href(run_page, reports), badges=badges, summary=str(run.get("summary", "")), links=hrefs,
    )


def monitoring_entry(reports: Path, summary_json: Path, summary: Summary) -> Entry:
    """The index entry of one monitoring run (its SUMMARY, read from SUMMARY_JSON), linking to the drift report
    beside it."""
    drifted = summary.drifted_columns
    text = f"{summary.rows} rows, {len(drifted)} drifted column(s)" + (
        f": {', '.join(drifted)}" if drifted else ""
    )
    report = href(inside(summary_json.parent, "report.html"), reports)
    return Entry(
        created=parse_time(summary.created, summary_json), kind="monitoring",
        title=summary.batch, title_href=report,
        badges=[("drift", "bad") if summary.dataset_drift else ("no drift", "ok")], summary=text,
        links=[("drift report", report)],
    )


def render_timeline(figures: list[Path], reports: Path) -> str:
    """The section beside the list that shows each task's timeline figure (reporting.timeline), and how to read
    it; nothing without monitoring runs."""
    if not figures:
        return ""
    shown = "".join(
        f'<figure><img src="{escape(href(path, reports))}" alt="{escape(path.stem)} monitoring runs over time">'
        "</figure>" for path in figures)
    return (
        '<section class="timeline"><h2>Performance over time</h2>'
        "<p class=\"muted\">Per window (at its end): the estimated primary metric (blue), its band of ±3 sampling "
        "errors, the realised value where labels arrived (green squares), the thresholds from chunks of the test "
        "split (dashed), alerts (red triangles) and a new model version (purple dotted line); below, the drifted "
        "share and the largest fairness gap.</p>"
        f"{shown}</section>"
    )


def render_entry(entry: Entry) -> str:
    """One <li> of the index: time, kind, title, badges, summary and links."""
    title = link(entry.title_href, entry.title, "title")
    badges = " ".join(f'<span class="badge {tone}">{escape(text)}</span>' for text, tone in entry.badges)
    links = "".join(link(target, label) for label, target in entry.links)
    return (
        f'<li class="run" data-kind="{entry.kind}"><div><time datetime="{entry.created.isoformat()}">'
        f'{stamp(entry.created)}</time> <span class="kind">{entry.kind}</span> {title} {badges}</div>'
        f'<div class="summary">{escape(entry.summary)}</div><div class="links">{links}</div></li>'
    )


def render_run_page(run: dict, folder: Path, targets: dict[str, Path | None]) -> str:
    """A training run's page: its links, the gate's checks as a table, the audit plot and the model card."""
    version = str(run.get("version", folder.name))
    blessed = "blessed" if run.get("blessed") else "not blessed"
    raw = {"card": "model card (markdown)", "gate": "gate result (JSON)"}
    links = "".join(link(href(targets[key], folder), raw.get(key, label)) for key, label in RUN_LINKS.items())
    audit = targets["audit"]
    plot = f'<img src="{href(audit, folder)}" alt="audit plot">' if audit and audit.suffix in IMAGES else ""
    card = targets["card"].read_text(encoding="utf-8", errors="replace") if targets["card"] else "No model card."
    body = (
        f'<p><a href="../../index.html">All runs</a></p><h1>Run {escape(version)}</h1>'
        f'<p><time>{stamp(parse_time(run.get("created"), folder))}</time> {escape(blessed)}'
        f'{"".join(f", {escape(a)}" for a in shown_aliases(run))}</p>'
        f'<p>{escape(str(run.get("summary", "")))}</p><div class="links">{links}</div>'
        f'<h2 id="gate">Gate</h2>{render_gate(targets["gate"])}'
        f'<h2 id="audit">Audit</h2>{plot or "<p>No audit plot.</p>"}'
        f'<h2 id="card">Model card</h2><pre>{escape(card)}</pre>'
    )
    return page(f"Run {version}", body)


def shown_aliases(run: dict) -> list[str]:
    """The aliases a run held when its release ended, as a reader takes them: a version promoted to champion
    is no longer a challenger, although `challenger` (the newest registered version) names it too."""
    aliases = [str(alias) for alias in run.get("aliases") or []]
    return [a for a in aliases if a != "challenger"] if "champion" in aliases else aliases


def render_gate(blessing_json: Path | None) -> str:
    """blessing.json's checks as a table: name, kind, value, threshold, passed."""
    blessing = read_record(blessing_json, Blessing) if blessing_json else None
    if blessing is None:
        return "<p>No gate result.</p>"
    rows = []
    for check in blessing.checks:
        shown = "n/a" if check.value is None else f"{check.value:.4g}"
        verdict = ("pass", "ok") if check.passed else ("fail", "bad")
        cells = [check.name, check.kind, shown, check.threshold]
        rows.append(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells)
            + f'<td><span class="badge {verdict[1]}">{verdict[0]}</span></td></tr>'
        )
    verdict = "blessed" if blessing.blessed else "not blessed"
    return (
        f"<p>{verdict}</p><table><tr><th>check</th><th>kind</th><th>value</th><th>threshold</th><th>passed</th></tr>"
        + "".join(rows) + "</table>"
    )


def inside(folder: Path, relative: object) -> Path | None:
    """FOLDER/RELATIVE when that is an existing file inside FOLDER; None when absent or outside it."""
    if not isinstance(relative, str) or not relative:
        return None
    target = (folder / relative).resolve()
    return target if target.is_file() and target.is_relative_to(folder.resolve()) else None


def href(target: Path | None, base: Path, anchor: str = "") -> str | None:
    """TARGET as a URL relative to the folder BASE, percent-encoded; None for no target."""
    if target is None:
        return None
    return quote(Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()) + anchor


def link(target: str | None, label: str, css: str = "") -> str:
    """An <a> to TARGET, or the label struck through when there is nothing to link to."""
    attribute = f' class="{css}"' if css else ""
    if target is None:
        return f'<span class="absent"{attribute} title="absent">{escape(label)}</span>'
    return f'<a{attribute} href="{escape(target)}">{escape(label)}</a>'


def page(title: str, body: str) -> str:
    """A whole HTML document with the inline style sheet: nothing to fetch."""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>\n"
    )


def parse_time(value: object, fallback: Path) -> datetime:
    """An ISO timestamp, extended (2026-11-21T22:50:00+00:00) or basic (2026-11-21T223414.884488Z), as UTC.

    Naive times are taken as UTC; an unreadable one falls back to the file's modification time.
    """
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp(fallback.stat().st_mtime, timezone.utc)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def stamp(moment: datetime) -> str:
    """A timestamp as the pages show it, to the minute."""
    return layout.stamp(layout.SHOWN, moment)
