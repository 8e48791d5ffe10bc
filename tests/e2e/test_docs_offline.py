"""The built docs site in a real browser with every outside host blocked: styled, and nothing fetched from outside."""

import json
import re
import shutil
import subprocess
import tempfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (.ci/run installs Debian's chromium)")]

REPO = Path(__file__).resolve().parents[2]
PAGES = ["index.html", "getting-started.html", "reference/cli.html", "reference/params.html", "benchmarks.html"]
# Every host name but the loopback address fails to resolve, so a page that needs the network shows it.
OFFLINE = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900",
           "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--virtual-time-budget=5000"]
LOADED = [  # what a page loads, as opposed to what it links to (a plain <a href> to outside docs is fine)
    re.compile(r"<(?:script|img|iframe|source|video|audio|embed)\b[^>]*?\bsrc=[\"']([^\"']+)", re.I),
    re.compile(r"<link\b[^>]*?\bhref=[\"']([^\"']+)", re.I),
    re.compile(r"\bsrcset=[\"']([^\"'\s]+)", re.I),
    re.compile(r"url\(\s*[\"']?([^\"')]+)", re.I),
    re.compile(r"@import\s+[\"']([^\"']+)", re.I),
]
OUTSIDE = re.compile(r"^(?:https?:)?//(?!127\.0\.0\.1[:/]|localhost[:/])", re.I)
HEADER_INDIGO = (64, 81, 181)  # mkdocs-material's default primary colour (#4051b5), the header's fill




class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the test's output is for failures, not for every request
        pass


@pytest.fixture(scope="module")
def served(site):
    """The site over HTTP on a loopback port, as `mkdocs serve` or any static host would give it (search needs it)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def browse(url: str, scratch: Path, *args: str) -> tuple[str, list[str]]:
    """The DOM of URL after its scripts ran (or what ARGS ask for), and every URL the page itself requested."""
    work = Path(tempfile.mkdtemp(dir=scratch))  # a fresh profile per page: nothing cached from the last one
    netlog = work / "net.json"
    command = [CHROMIUM, *OFFLINE, f"--user-data-dir={work / 'profile'}", f"--log-net-log={netlog}",
               *(args or ["--dump-dom"]), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)
    return done.stdout, requested_by_page(netlog, url)


def requested_by_page(netlog: Path, url: str) -> list[str]:
    """URLs in Chromium's net log whose request the page (or its worker) started, not the browser's own traffic."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    origin = re.match(r"https?://[^/]+", url)[0]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and e.get("params", {}).get("initiator") == origin]


def test_no_page_loads_anything_from_an_outside_host(site):
    outside = {}
    for path in [*site.rglob("*.html"), *site.rglob("*.css")]:
        loaded = [u for pattern in LOADED for u in pattern.findall(path.read_text(errors="replace"))]
        if found := [u for u in loaded if OUTSIDE.match(u)]:
            outside[str(path.relative_to(site))] = found
    assert not outside


def test_the_site_renders_offline_styled_and_fetches_only_from_itself(served, site, tmp_path):
    for page in PAGES:
        dom, requested = browse(f"{served}/{page}", tmp_path)
        assert 'class="md-header' in dom and "md-content" in dom, page
        assert requested and all(u.startswith(served + "/") for u in requested), (page, requested)
        stylesheets = [u for u in requested if u.endswith(".css")]
        assert any("/assets/stylesheets/main." in u for u in stylesheets), page
    # the CLI reference is rendered, with its tables, from the generated Markdown
    dom, _ = browse(f"{served}/reference/cli.html", tmp_path)
    assert ">driftline predict<" in dom and "<table>" in dom


def test_the_stylesheet_applies(served, tmp_path):
    from PIL import Image

    shot = tmp_path / "index.png"
    browse(f"{served}/index.html", tmp_path, f"--screenshot={shot}")
    colours = {colour: count for count, colour in Image.open(shot).convert("RGB").getcolors(1 << 20)}
    assert len(colours) > 50  # text, navigation and a code block, not a blank page
    assert colours.get(HEADER_INDIGO, 0) > 20_000  # unstyled, the header has no fill
