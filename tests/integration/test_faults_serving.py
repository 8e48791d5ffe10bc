"""Nothing lost under faults (issue 27), on the real service: `driftline serve` of the small project in a process
group of its own, real HTTP, a real SQLite log.

One service, started with `--host localhost` (finding 10) while a rollout runs whose candidate's model is gone
(finding 11), takes the poisoned and oversized requests (findings 1, 5 and 12), the rows its database refuses,
`driftline log dead-letters` and `replay` beside it, and a SIGTERM at the end; the tests read what it did.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bentoml
import httpx
import psutil
import pytest

from driftline.config import load_params
from driftline.core.artifacts import dvc_env
from driftline.core.data import records
from driftline.core.processes import free_port, process_group, wait_ready
from driftline.registry.store import CHAMPION, Registry
from driftline.release import rollout
from driftline.serving.log import connect, read_window
from tests.helpers.project import cli

REFUSED = "refused-by-the-database"  # a record id the log's database refuses (a trigger), though the service takes it
TRIGGER = (f"CREATE TRIGGER refuse BEFORE INSERT ON predictions WHEN NEW.record_id = '{REFUSED}' "
           "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")
BIG_BODY = 300 * 2**20
GOOD, BATCH = 1000, 100
GONE = "20261207-000000-gone"  # the candidate whose model goes missing
NON_FINITE = ["Infinity", "-Infinity", "1e999", "NaN"]  # JSON tokens Python's parser takes as floats


@contextmanager
def serve(root: Path, *args: str, env: dict, output: Path) -> Iterator[tuple[psutil.Process, str | None]]:
    """`driftline serve --port P ARGS` of ROOT's champion, its output to OUTPUT, until the block ends (SIGTERM to
    its group): the server's process and its URL on localhost, None where it never became ready."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "driftline"), "serve", "--port", str(port), *args]
    shell = ["sh", "-c", f'exec "$@" >{shlex.quote(str(output))} 2>&1', "sh", *command]  # exec: the same process
    with process_group(shell, env=env, cwd=root) as process:
        url = f"http://localhost:{port}"
        yield psutil.Process(process.pid), url if wait_ready(url, process, 90) is not None else None


def memory(server: psutil.Process) -> int:
    """The resident memory of the server and every process it started (BentoML's workers), in bytes."""
    return sum(p.memory_info().rss for p in [server, *server.children(recursive=True)])


def streamed(total: int, chunk: int = 2**20) -> Iterator[bytes]:
    block = b" " * chunk  # one block sent again and again: the client holds 1 MB, not the body
    for _ in range(total // chunk):
        yield block


def timed_post(url: str, **request) -> tuple[int, float]:
    """The status of a POST to URL/predict and the seconds it took."""
    started = time.perf_counter()
    status = httpx.post(f"{url}/predict", timeout=120, **request).status_code
    return status, time.perf_counter() - started


def sent(url: str, rows: list[dict], prefix: str) -> list[str]:
    """POST ROWS in requests of BATCH with ids PREFIX-<n>; the ids answered."""
    answered = []
    for start in range(0, len(rows), BATCH):
        body = [row | {"id": f"{prefix}-{start + n}"} for n, row in enumerate(rows[start:start + BATCH])]
        answer = httpx.post(f"{url}/predict", json={"records": body}, timeout=60)
        assert answer.status_code == 200, answer.text
        answered += [a["id"] for a in answer.json()]
    return answered


def log_status(url: str) -> dict:
    """/metadata/log once what was appended is written or dead-lettered (the service's flush)."""
    return httpx.get(f"{url}/metadata/log", params={"wait": 10}, timeout=30).json()


def with_tokens(rows: list[dict], column: str, tokens: list[str]) -> str:
    """A request body of ROWS, one per token, whose COLUMN holds the token as raw JSON text: numbers that
    json.dumps does not write, such as 1e999."""
    body = json.dumps({"records": [row | {column: f"@{n}@"} for n, row in enumerate(rows[:len(tokens)])]})
    for n, token in enumerate(tokens):
        body = body.replace(f'"@{n}@"', token)
    return body


def run_sql(engine, statement: str) -> None:
    """STATEMENT on the log's database, in a transaction of its own (behind the service's back)."""
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)


def rolled_out_project(trained: Path, folder: Path) -> Path:
    """A project in FOLDER with TRAINED's params and registry, and a canary rollout running whose candidate (the
    champion's model under another tag) has gone from the BentoML store and was never exported."""
    shutil.copy(trained / "params.yaml", folder)
    shutil.copytree(trained / "registry", folder / "registry")
    registry = Registry(folder / "registry")
    champion = bentoml.models.get(registry.get(CHAMPION)["model_tag"])
    with bentoml.models.create("driftline-gone") as copy:
        shutil.copytree(champion.path, copy.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.yaml"))
    registry.register({"version": GONE, "model_tag": str(copy.tag), "blessed": True, "failed_checks": []})
    rollout.start(registry, GONE, "canary", 0.5, "a candidate whose model goes missing")
    bentoml.models.delete(copy.tag)
    return folder


@pytest.fixture(scope="module")
def faults(trained, held_out, tmp_path_factory) -> Iterator[dict]:
    """`driftline serve --host localhost` of a project whose rollout's candidate is missing, put through the faults
    of findings 1, 5 and 12 and the dead-letter file's life (serve.dead_letter_path), then stopped by SIGTERM; what
    each step answered, for the tests to judge."""
    project = rolled_out_project(trained, tmp_path_factory.mktemp("faults"))
    url, letters = f"sqlite:///{project / 'inference.db'}", project / "logs" / "dead-letters.jsonl"
    engine = connect(url)
    run_sql(engine, TRIGGER)
    good = records(held_out.drop(columns=["income"]).head(GOOD))
    seen: dict = {"output": project / "server.out"}
    with pytest.MonkeyPatch.context() as patch:  # the server and `driftline log` read them
        patch.setenv("DRIFTLINE_LOG_URL", url)
        patch.delenv("DRIFTLINE_DEAD_LETTERS", raising=False)  # serve.dead_letter_path, resolved in the project
        with serve(project, "--host", "localhost", env=dvc_env(), output=seen["output"]) as (server, base):
            assert base, seen["output"].read_text()

            def post(body: dict) -> httpx.Response:
                return httpx.post(f"{base}/predict", json=body, timeout=60)

            seen["metadata"] = httpx.get(f"{base}/metadata/", timeout=10).json()
            seen["non_finite"] = httpx.post(f"{base}/predict", headers={"content-type": "application/json"},
                                            content=with_tokens(good, "workclass", NON_FINITE), timeout=60)
            seen["huge_integer"] = post({"records": [good[1] | {"age": 10**30}]})
            seen["refused_row"] = post({"records": [good[2] | {"id": REFUSED}]})
            seen["good_ids"] = sent(base, good, "good")
            seen["status"] = log_status(base)

            before = memory(server)
            seen["chunked"] = timed_post(base, content=streamed(BIG_BODY))
            seen["declared"] = timed_post(base, content=streamed(BIG_BODY), headers={"content-length": str(BIG_BODY)})
            seen["memory_growth"] = memory(server) - before
            seen["extra_keys"] = post({"records": [row | {f"extra_{k}": k for k in range(100)} for row in good]})
            seen["long_text"] = post({"records": [good[3] | {"workclass": "x" * 5000}]})
            seen["huge_text"] = post({"records": [good[3] | {"workclass": "x" * 20_000_000}]})

            seen["shown"] = cli(project, "log", "dead-letters", "--json", check=False)
            run_sql(engine, "DROP TRIGGER refuse")  # the cause mended: the database takes the row again
            seen["replayed"] = cli(project, "log", "replay", check=False)
            seen["letters_after_replay"] = letters.read_text() if letters.is_file() else None

            letters.unlink(missing_ok=True)
            letters.mkdir(parents=True)  # a folder where the file was: the disk refuses dead letters from now on
            run_sql(engine, TRIGGER)
            post({"records": [good[4] | {"id": REFUSED}]})
            seen["lost_status"] = log_status(base)
            seen["readyz"] = httpx.get(f"{base}/readyz", timeout=10).status_code
            state = project / "registry" / "registry.json"
            state.write_text(state.read_text()[:40])  # cut short: the service goes on serving what it loaded
            seen["damaged_metadata"] = httpx.get(f"{base}/metadata/", timeout=10)
            seen["last_ids"] = sent(base, good[:300], "last")  # SIGTERM follows at once: the drain writes them
    engine.dispose()
    seen["logged"] = read_window(url, load_params(trained / "params.yaml").schema)
    seen["output"] = seen["output"].read_text()
    yield seen


def test_finding_1_a_poisoned_record_never_stops_the_log_and_sigterm_loses_nothing(faults):
    answer = faults["huge_integer"]
    assert answer.status_code == 422 and "records[0].age: an integer beyond 64 bits" in answer.text
    status = faults["status"]
    assert status.get("settled") and status["written"] == GOOD and status["pending"] == 0, status
    assert status["failed_writes"] == 0
    assert sorted(faults["logged"]["record_id"]) == sorted(faults["good_ids"] + faults["last_ids"] + [REFUSED])


def test_finding_12_a_non_finite_number_is_refused_not_logged_as_missing(faults):
    answer = faults["non_finite"]
    assert answer.status_code == 422, answer.text
    for n, token in enumerate(("inf", "-inf", "inf", "nan")):
        assert f"records[{n}].workclass: {token} is not a finite number" in answer.text
    assert not faults["logged"]["workclass"].isna().any()  # what was logged is what was sent and scored


def test_finding_5_a_300_mb_body_is_refused_as_it_arrives(faults):
    for case in ("chunked", "declared"):
        status, seconds = faults[case]
        assert status == 413 and seconds < 1, (case, status, seconds)
    assert faults["memory_growth"] < 100 * 2**20, faults["memory_growth"]
    assert faults["huge_text"].status_code == 413 and "serve.max_body_bytes" in faults["huge_text"].text


def test_finding_5_refusals_are_bounded_and_logged_in_one_line(faults):
    answer = faults["extra_keys"]  # 1,000 records with 100 unknown keys each: 100,000 problems
    assert answer.status_code == 400 and len(answer.content) < 10_000
    assert len(answer.json()["detail"]) == 11 and answer.json()["detail"][-1]["msg"] == "99990 more problems not shown"
    long_text = faults["long_text"]
    assert long_text.status_code == 422 and "records[0].workclass: 5000 characters, more than 1000" in long_text.text
    assert "Traceback" not in faults["output"] and len(faults["output"]) < 100_000
    assert "Exception on /predict [POST]: 400 100000 problems, the first: records.0.extra_0" in faults["output"]


def test_finding_10_serve_resolves_a_host_name_before_binding(faults):
    assert "on 127.0.0.1:" in faults["output"] and "(localhost), no token" in faults["output"]
    assert faults["good_ids"]  # answered on localhost


def test_finding_11_a_rollout_whose_candidate_is_missing_serves_the_champion_alone(faults):
    assert f"warning: candidate {GONE} missing: model driftline-gone:" in faults["output"]
    shown = faults["metadata"]["rollout"]
    assert shown["mode"] == "canary" and shown["candidate"] == GONE and shown["candidate_model_tag"] is None
    assert shown["degraded"].startswith(f"candidate {GONE} missing: model driftline-gone:")
    assert set(faults["logged"]["model_version"]) == {faults["metadata"]["version"]}


def test_finding_7_a_damaged_registry_is_named_at_metadata_not_a_500(faults):
    answer = faults["damaged_metadata"]
    assert answer.status_code == 200 and answer.json()["champion"] is None
    assert "registry.json is not JSON" in answer.json()["registry_error"] and "registry.json.bak" in answer.text


def test_rows_the_database_refuses_are_dead_lettered_shown_and_replayed(faults):
    assert faults["refused_row"].status_code == 200  # the service took it; the database did not
    assert faults["status"]["dead_lettered"] == 1 and faults["status"]["lost"] == 0
    shown = faults["shown"]
    assert shown.returncode == 0, shown.stderr
    [letter] = [json.loads(line) for line in shown.stdout.splitlines()]
    assert letter["row"]["record_id"] == REFUSED and "refused by a trigger" in letter["error"]
    assert faults["replayed"].returncode == 0, faults["replayed"].stderr
    assert "replayed 1 dead letters" in faults["replayed"].stderr and "1 written" in faults["replayed"].stderr
    assert faults["letters_after_replay"] == ""


def test_rows_are_lost_only_when_the_disk_refuses_them_and_readyz_says_so(faults):
    status = faults["lost_status"]
    assert status["lost"] == 1 and status["dead_lettered"] == 1 and "IsADirectoryError" in status["last_error"]
    assert faults["readyz"] == 503
