"""`driftline ui` in a real browser with every outside host blocked: the dashboard's panels draw three runs."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from driftline.core.processes import free_port
from driftline.monitoring.workspace import add_snapshots
from tests.helpers.project import ready_server
from tests.helpers.summaries import ENDS, summary, typed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.slow,  # Chromium renders the dashboard
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (.ci/run installs Debian's chromium)")]

# Every host name but the loopback address fails to resolve, so a page that needs the network shows it; the
# virtual time lets the dashboard's requests for its series finish before the DOM is taken.
OFFLINE = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900",
           "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--virtual-time-budget=15000"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`driftline ui` over a workspace of three monitoring runs, on a free loopback port; its URL."""
    root = tmp_path_factory.mktemp("ui")
    for window in range(3):
        add_snapshots(root / "ws", typed([summary(window)]), "adult")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "driftline"), "ui", "--port", str(port), "--workspace", "ws"]
    with ready_server(command, url, probe="/api/version", cwd=root, budget_s=60):
        yield url


def browse(url: str, scratch: Path) -> tuple[str, list[str]]:
    """The DOM of URL after its scripts ran, and every URL the page itself requested (from Chromium's net log)."""
    netlog = scratch / "net.json"
    command = [CHROMIUM, *OFFLINE, f"--user-data-dir={scratch / 'profile'}", f"--log-net-log={netlog}",
               "--dump-dom", url]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    origin = re.match(r"https?://[^/]+", url)[0]
    return dom, [e["params"]["url"] for e in log["events"]
                 if e["type"] == start and e.get("params", {}).get("initiator") == origin]


def points(panel: str) -> int:
    """How many snapshots a rendered panel draws: the most vertices of one line, or the bars' positions."""
    lines = [len(re.findall(r"[MLC]", d)) for d in
             re.findall(r'<path[^>]*\bd="([^"]*)"[^>]*class="MuiLineElement-root', panel)]
    bars = set(re.findall(r'<rect[^>]*\bx="([^"]*)"[^>]*class="MuiBarElement-root', panel))
    return max([*lines, len(bars)])


def test_the_dashboard_draws_every_panel_from_three_snapshots_offline(served, tmp_path):
    [project] = httpx.get(f"{served}/api/projects").json()
    dom, requested = browse(f"{served}/projects/{project['id']}", tmp_path)
    assert requested and all(u.startswith(served + "/") for u in requested), requested
    panels = {part.split("<", 1)[0]: part for part in re.split(r"<h5\b[^>]*>", dom)[1:]}
    expected = {"Drift score per column", "Prediction drift score", "roc_auc: realised and estimated",
                "Label coverage", "demographic_parity_difference per attribute",
                "Attribution ranking against the audit (nDCG)", "Attribution shares", "Alerts per run",
                "Rows per model version"}
    assert expected <= set(panels), sorted(panels)
    drawn = {title: points(body) for title, body in panels.items() if title in expected}
    assert all(count >= 3 for count in drawn.values()), drawn
    assert all(f"{end:%Y-%m-%d}" in dom for end in ENDS)  # the x axis is the windows' ends
