"""reports/index.html in a real browser, with the network cut: every link opens, Data Docs are styled."""

import json
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.slow,  # Chromium renders each page
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (.ci/run installs Debian's chromium)")]

# Any host name fails to resolve: a page that still needs the network shows it.
OFFLINE = ["--headless=new", "--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--hide-scrollbars", "--window-size=1280,900"]
ASSET = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"([^\"]*)\"", re.IGNORECASE)
ALERT_GREY = (226, 227, 229)  # Bootstrap 4's .alert-secondary background, which the Data Docs header uses


def browse(page: Path, scratch: Path, *args: str) -> str:
    """The DOM of PAGE after its scripts ran (or what ARGS ask Chromium for instead), in a fresh profile."""
    profile = tempfile.mkdtemp(dir=scratch)
    command = [CHROMIUM, *OFFLINE, f"--user-data-dir={profile}", *(args or ["--dump-dom"]), page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory, trained) -> Path:
    """A project with one training run (real Data Docs) and one monitoring run (orchestration.monitor, the small
    model)."""
    from PIL import Image

    from driftline.config import load_params
    from driftline.core.contract import check
    from driftline.core.splits import load_split
    from driftline.monitoring.analysis import Baseline
    from driftline.orchestration.monitor import monitor
    from driftline.registry.resolver import resolve_model
    from tests.helpers.project import REPO, full_data

    params = load_params(REPO / "params.yaml")
    root = tmp_path_factory.mktemp("project")
    run = root / "reports" / "runs" / "abc123"
    check(full_data().head(200).replace({"?": None}), params.schema, params.validation, run / "docs")
    (run / "audit").mkdir()
    Image.new("RGB", (60, 30), "orange").save(run / "audit" / "shap_beeswarm.png")
    (run / "card.md").write_text("# Model card abc123\n\nIntended use: <demo>.")
    (run / "blessing.json").write_text(json.dumps({"blessed": True, "checks": [
        {"name": "roc_auc", "kind": "value", "value": 0.91, "threshold": ">= 0.9", "passed": True}]}))
    (run / "run.json").write_text(json.dumps({
        "version": "abc123", "created": "2020-01-01T12:00:00+00:00", "blessed": True, "promoted": True,
        "aliases": ["champion"], "summary": "roc_auc=0.9100", "links": {
            "contract": "docs/index.html", "audit": "audit/shap_beeswarm.png", "card": "card.md",
            "gate": "blessing.json"}}))

    # the monitoring run comes second: monitor rebuilds the index, listing both
    small = load_params(trained / "params.yaml")
    champion = resolve_model(small, trained, "champion")
    reference, current = load_split(trained / "artifacts/featurize", "train"), full_data().tail(400)
    shifted = current.drop(columns=[small.schema.target]).assign(age=current["age"] + 20)
    predictor = champion.predictor()
    monitor(shifted, Baseline.of(reference, predictor, champion.path, small), predictor, champion.entry["version"],
            small, root, "shifted")
    return root


def test_every_link_of_the_index_opens_offline(project, tmp_path):
    reports = project / "reports"
    dom = browse(reports / "index.html", tmp_path)
    assert dom.index("shifted") < dom.index("abc123")  # newest first
    hrefs = {unescape(h) for h in re.findall(r'<a\b[^>]*href="([^"]*)"', dom)}
    targets = {reports / unquote(h.split("#")[0]) for h in hrefs}
    assert not [h for h in hrefs if re.match(r"[a-z]+:", h)], "links must be relative"
    assert all(t.is_file() for t in targets)
    drift_report = next(reports.glob("monitoring/*/*-shifted/report.html")).relative_to(reports).as_posix()
    expected = {  # what each HTML page shows once rendered
        "runs/abc123/index.html": ["Model card abc123", "Intended use: &lt;demo&gt;.", "roc_auc"],
        "runs/abc123/docs/index.html": ["Validation Results", 'class="bootstrap-table'],
        drift_report: ["Dataset Drift is detected"],
    }
    assert {t.relative_to(reports).as_posix() for t in targets if t.suffix == ".html"} == set(expected)
    with ThreadPoolExecutor(len(expected)) as pool:  # Chromium mostly waits on its own start-up
        rendered_pages = pool.map(lambda page: browse(reports / page, tmp_path), expected)
    for (page, texts), rendered in zip(expected.items(), rendered_pages):
        assert all(text in rendered for text in texts), page
        local = [a for a in ASSET.findall(rendered) if not a.startswith("data:")]
        assert not [a for a in local if re.match(r"https?:|//", a)], page
        assert all((reports / page).parent.joinpath(unquote(a)).is_file() for a in local), page


def test_data_docs_render_styled_offline(project, tmp_path):
    from PIL import Image

    shot = tmp_path / "docs.png"
    browse(project / "reports" / "runs" / "abc123" / "docs" / "index.html", tmp_path, f"--screenshot={shot}")
    colours = {colour: count for count, colour in Image.open(shot).convert("RGB").getcolors(1 << 20)}
    assert len(colours) > 500  # text, a logo and a table, not a blank page
    assert colours.get(ALERT_GREY, 0) > 10_000  # unstyled (Bootstrap missing), the header box has no fill
