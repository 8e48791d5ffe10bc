"""The release loop on the small trained project: a crippled candidate is refused, promote, rollback, pull."""

import json
import shutil
import subprocess
import sys
import tempfile
import time

import httpx
import pandas as pd
import pytest

from driftline.core.artifacts import dvc_env
from driftline.core.data import records
from tests.helpers.project import cli, dvc, model_stages, serving


def registry(root):
    return json.loads((root / "registry/registry.json").read_text())


@pytest.fixture(scope="module")
def loop(trained, held_out, tmp_path_factory):
    """A copy of the trained project (its first model is champion), then a crippled candidate released."""
    from driftline.config import load_params
    from driftline.orchestration.release import release

    root = tmp_path_factory.mktemp("loop") / "project"
    shutil.copytree(trained, root)
    first = registry(root)["aliases"]["champion"]
    rows = tmp_path_factory.mktemp("rows") / "rows.csv"
    held_out.drop(columns=["income"]).head(300).to_csv(rows, index=False)
    cli(root, "predict", str(rows), "-o", str(rows.with_name("first.csv")))

    # both members crippled on purpose: the blend would weigh a crippled one alone at 0
    model_stages(root, {"max_epochs": 1, "members": 1, "learning_rate": 0.00001},
                 boost_changes={"max_rounds": 1, "learning_rate": 0.0001})
    p = load_params(root / "params.yaml")
    started = time.perf_counter()
    second = release(p, root)
    return {"root": root, "first": first, "second": second, "rows": rows, "release_s": time.perf_counter() - started}


def test_a_crippled_candidate_fails_the_gate_and_leaves_the_champion(loop):
    root, second = loop["root"], loop["second"]
    assert second["new"] and not second["blessed"] and not second["promoted"]
    state = registry(root)
    assert state["aliases"] == {"champion": loop["first"], "challenger": second["version"]}
    blessing = json.loads((root / f"registry/blessings/{second['version']}.json").read_text())
    failed = {c["name"] for c in blessing["checks"] if not c["passed"]}
    assert "roc_auc vs champion" in failed and blessing["blessed"] is False
    models = json.loads(cli(root, "models", "--json").stdout)
    assert [m["version"] for m in models] == [second["version"], loop["first"]]
    assert models[0]["aliases"] == ["challenger"] and models[1]["aliases"] == ["champion"]
    assert "roc_auc vs champion" in models[0]["failed_checks"] and models[0]["created"].endswith("+00:00")


def test_every_version_has_a_card_and_a_blessing_and_the_bento_carries_the_card(loop):
    import bentoml

    root = loop["root"]
    for entry in registry(root)["versions"]:
        card = json.loads((root / f"registry/cards/{entry['version']}.json").read_text())
        assert card["model_details"]["version"]["name"] == entry["version"]
        assert {"model_details", "model_parameters", "quantitative_analysis", "considerations"} <= set(card)
        assert card["quantitative_analysis"]["confidence_intervals"]["candidate"][0] < entry["metrics"]["roc_auc"]
        markdown = (root / f"registry/cards/{entry['version']}.md").read_text()
        assert markdown.index("## Uses") < markdown.index("## Bias") < markdown.index("## Evaluation")
        assert (root / f"registry/blessings/{entry['version']}.json").is_file()
        bento = bentoml.get(entry["bento_tag"])
        assert (bento.path_of("src/model_card.md"))
        with open(bento.path_of("src/model_card.md")) as shipped:
            assert f"Version: `{entry['version']}`" in shipped.read()


def test_promotion_needs_a_blessing_or_force_with_a_reason(loop):
    root, second = loop["root"], loop["second"]["version"]
    refused = cli(root, "promote", second, check=False)
    assert refused.returncode == 1 and "not blessed" in refused.stderr and "Traceback" not in refused.stderr
    assert cli(root, "promote", second, "--force", check=False).returncode == 1  # no reason given
    cli(root, "promote", second, "--force", "--reason", "testing the override")
    assert registry(root)["aliases"]["champion"] == second
    last = json.loads((root / "registry/history.jsonl").read_text().splitlines()[-1])
    assert last | {"time": None} == {"time": None, "alias": "champion", "from": loop["first"], "to": second,
                                     "reason": "testing the override", "blessed": False, "forced": True,
                                     "blessing": f"blessings/{second}.json", "rollback": False}


def test_rollback_scores_exactly_as_the_previous_champion(loop):
    root, rows = loop["root"], loop["rows"]
    if registry(root)["aliases"]["champion"] == loop["first"]:
        cli(root, "promote", loop["second"]["version"], "--force", "--reason", "set up the rollback")
    history = (root / "registry/history.jsonl").read_text()
    again = cli(root, "promote", loop["second"]["version"], "--force", "--reason", "promote the champion again")
    assert "nothing moved" in again.stderr  # a promote to the champion itself moves nothing and records nothing
    assert (root / "registry/history.jsonl").read_text() == history
    cli(root, "rollback")
    assert registry(root)["aliases"]["champion"] == loop["first"]
    cli(root, "predict", str(rows), "-o", str(rows.with_name("after.csv")))
    assert rows.with_name("after.csv").read_bytes() == rows.with_name("first.csv").read_bytes()
    moves = [json.loads(line) for line in (root / "registry/history.jsonl").read_text().splitlines()]
    assert (moves[-1]["from"], moves[-1]["to"], moves[-1]["reason"]) == (loop["second"]["version"], loop["first"],
                                                                          "rollback")


def test_serve_exposes_its_version_and_says_when_it_is_stale(loop, held_out):
    root = loop["root"]
    with serving(root) as url:
        meta = httpx.get(f"{url}/metadata", follow_redirects=True).json()
        champion = registry(root)["aliases"]["champion"]
        assert meta["version"] == champion and meta["stale"] is False
        # after the rollback the service scores exactly as the first champion did through predict
        rows = pd.read_csv(loop["rows"], keep_default_na=False, na_values=["?"])  # one batch, as predict scored it
        served = httpx.post(f"{url}/predict", json={"records": records(rows)}, timeout=30).json()
        first = pd.read_csv(loop["rows"].with_name("first.csv"))
        # the same numbers: the CSV rounds to 16 decimals, JSON keeps every digit
        assert [r["probability"] for r in served] == pytest.approx(first["probability"].tolist(), rel=1e-12, abs=0)
        assert f"Version: `{champion}`" in meta["model_card"] and meta["schema"]["target"] == "income"
        cli(root, "promote", loop["second"]["version"], "--force", "--reason", "make the server stale")
        assert httpx.get(f"{url}/metadata", follow_redirects=True).json()["stale"] is True
        cli(root, "rollback", "--reason", "back again")


def test_a_fresh_checkout_serves_the_champion_after_dvc_pull(loop, tmp_path):
    root, rows = loop["root"], loop["rows"]
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns("artifacts", "models", "cache", "tmp"))
    assert not (clone / "registry/models").exists()
    dvc(clone, "pull", "-q", "registry/models.dvc")
    empty_store = dvc_env() | {"BENTOML_HOME": tempfile.mkdtemp(prefix="fresh-bentoml-")}
    done = subprocess.run([sys.executable.rsplit("/", 1)[0] + "/driftline", "predict", str(rows), "-o",
                           str(tmp_path / "fresh.csv")], cwd=clone, env=empty_store, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fresh.csv").read_bytes() == rows.with_name("first.csv").read_bytes()
