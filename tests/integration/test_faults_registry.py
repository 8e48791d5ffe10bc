"""Nothing lost under faults, in the registry: real `driftline` processes on a copy of the small trained project.

A release and a rollout decision that run at once keep each other's changes; a release killed half-way is
finished by the next; rollbacks walk the champion history down and never toggle; a torn history line or a
registry.json cut short gives a clear message, never a traceback; N writers lose no update.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import yaml

from driftline.core.artifacts import dvc_env
from driftline.registry.store import Registry
from driftline.release import rollout
from tests.helpers.project import cli

PAST = "2020-01-01T00:00:00+00:00"  # a rollout started this long ago is past its deadline: decide rolls it back


@pytest.fixture(scope="module", autouse=True)
def own_log() -> Iterator[None]:
    """`rollout decide` reads the project's own (empty) log: a session fixture's DRIFTLINE_LOG_URL (app_client's
    blocked log, in the same worker) would win over it. Module-scoped, so that the module's fixtures run without it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DRIFTLINE_LOG_URL", raising=False)
        yield


@pytest.fixture(scope="module")
def prepared(trained, tmp_path_factory) -> Path:
    """A copy of the trained project with its model packaged again (a new model tag, the same weights: blessed,
    not released yet), and a shadow rollout of a second version past its deadline: `rollout decide` rolls it back.
    Set up through the registry's plain API, so that it reads the same on the code before transactions."""
    from driftline.config import load_params
    from driftline.stages import package

    root = tmp_path_factory.mktemp("faults") / "project"
    shutil.copytree(trained, root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["gate"] |= {"bootstrap_rounds": 50, "infra": params["gate"]["infra"] | {"rows": 40}}  # a test's gate
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    art = root / "artifacts"
    package.run(load_params(root / "params.yaml"), art / "featurize", art / "train", art / "boost",
                art / "evaluate/decision.json", art / "audit", art / "package/package.json", root)
    registry = Registry(root / "registry")
    registry.register(registry.get("champion") | {"version": "rival"})  # the champion's model, as another version
    rollout.start(registry, "rival", "shadow", 0.1, "a rollout to decide")
    state = json.loads((root / "registry/registry.json").read_text())
    state["rollout"]["started"] = PAST
    (root / "registry/registry.json").write_text(json.dumps(state, indent=1))
    return root


def project(prepared: Path, tmp_path: Path) -> Path:
    """This test's copy of the prepared project."""
    root = tmp_path / "project"
    shutil.copytree(prepared, root)
    return root


def start(root: Path, *args: str, failpoint: str | None = None) -> subprocess.Popen:
    """The `driftline` console script started in ROOT, killed at FAILPOINT where one is named."""
    env = dvc_env() | ({"DRIFTLINE_FAILPOINT": failpoint} if failpoint else {})
    return subprocess.Popen([str(Path(sys.executable).parent / "driftline"), *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> subprocess.CompletedProcess:
    """PROCESS's exit status and output, once it ends."""
    out, err = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def files(root: Path) -> tuple[dict, list[dict]]:
    """registry.json and the history lines it committed (every line, for a registry without `history_lines`)."""
    state = json.loads((root / "registry/registry.json").read_text())
    lines = (root / "registry/history.jsonl").read_text().splitlines()
    return state, [json.loads(line) for line in lines[:state.get("history_lines", len(lines))]]


def assert_agreeing(root: Path) -> dict:
    """registry.json and history.jsonl tell one story: the history's moves, replayed from the start, give the
    aliases; the rollout is the last started one unless a candidate removal ended it; the versions marked refused
    are those a rollback decision removed. Returns registry.json."""
    state, history = files(root)
    aliases = {}
    for record in history:
        if record["to"] is None:
            aliases.pop(record["alias"])
        else:
            aliases[record["alias"]] = record["to"]
    assert aliases == state["aliases"]
    candidate = [r for r in history if r["alias"] == "candidate"]
    running = candidate[-1]["rollout"] if candidate and candidate[-1]["to"] else None
    assert (state.get("rollout") or {}).get("version") == (running or {}).get("version")
    refused = {r["from"] for r in candidate if r["to"] is None and r.get("decision") == "rollback"}
    assert {e["version"] for e in state["versions"] if e.get("refused")} == refused
    return state


def packaged_version(root: Path) -> str:
    """The version id the release gives the packaged model (its BentoML version)."""
    return json.loads((root / "artifacts/package/package.json").read_text())["model_tag"].split(":")[1]


@contextmanager
def held_reading(path: Path) -> Iterator[Callable[[Callable[[], subprocess.Popen]], subprocess.Popen]]:
    """Stop a process in the middle of its work: PATH becomes a FIFO, and the block gets a function that starts
    the process and returns once it has opened PATH to read it; until the block ends it waits there, then it
    reads PATH's content and goes on (later reads find a plain file again)."""
    content = path.read_bytes()
    path.unlink()
    os.mkfifo(path)
    held = {}

    def started(process_of: Callable[[], subprocess.Popen]) -> subprocess.Popen:
        process = process_of()

        def unblock() -> None:  # should the process end without reading PATH, the open below returns all the same
            process.wait()
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))

        threading.Thread(target=unblock, daemon=True).start()
        held["fd"] = os.open(path, os.O_WRONLY)
        assert process.poll() is None, finished(process).stderr
        plain = path.with_name(path.name + ".plain")
        plain.write_bytes(content)
        os.replace(plain, path)  # the open FIFO stays the process's; any later open gets the file
        return process

    try:
        yield started
    finally:
        if "fd" in held:
            with suppress(BrokenPipeError):  # the process ended without reading: its failure is the test's
                os.write(held["fd"], content)
            os.close(held["fd"])


@pytest.fixture(scope="module")
def raced(prepared, tmp_path_factory) -> dict:
    """A release that a rollout decision overtakes, then dies: it is held while it judges (it reads the evaluate
    stage's metrics then) until `rollout decide` has rolled the candidate back, then killed (SIGKILL) right after
    it registered its version; a second `driftline release` follows. What each left behind."""
    root = project(prepared, tmp_path_factory.mktemp("raced"))
    with held_reading(root / "metrics/evaluate.json") as started:
        release = started(lambda: start(root, "release", failpoint="release.registered"))
        decided = json.loads(cli(root, "rollout", "decide", "--json").stdout)
    killed = finished(release)
    after_kill = files(root)
    again = cli(root, "release")
    return {"root": root, "version": packaged_version(root), "decided": decided, "killed": killed,
            "after_kill": after_kill, "again": again}


def test_a_release_keeps_what_a_rollout_decision_did_while_it_ran(raced):
    """Finding 2: the release read the registry before the decision rolled the candidate back; its writes read it
    again under the lock, so the rollback, the candidate's removal and the refused mark all stay."""
    assert raced["decided"]["outcome"] == "rollback" and raced["decided"]["version"] == "rival"
    for state in (raced["after_kill"][0], assert_agreeing(raced["root"])):
        assert "candidate" not in state["aliases"] and "rollout" not in state
        assert state["versions"][1]["version"] == "rival" and state["versions"][1]["refused"]["decision"]


def test_a_release_killed_after_registering_is_finished_by_the_next(raced):
    """Finding 3: a release killed right after it registered its version moved nothing; the next `driftline
    release` makes the moves it owes and says so, instead of "already registered: nothing moved"."""
    version, (state, history) = raced["version"], raced["after_kill"]
    assert raced["killed"].returncode == -signal.SIGKILL, raced["killed"].stderr
    assert state["versions"][-1]["version"] == version and version not in {r["to"] for r in history}
    assert f"version {version}: promoted to champion" in raced["again"].stderr
    assert "registered by a release that did not finish: this run moved challenger, champion" in raced["again"].stderr
    assert assert_agreeing(raced["root"])["aliases"] == {"champion": version, "challenger": version}
    assert json.loads((raced["root"] / f"reports/runs/{version}/run.json").read_text())["promoted"] is True


def older_registry(root: Path, champions: str, refused: str = "") -> None:
    """ROOT's registry rewritten as an older driftline left it (no revision, no history_lines): one version per
    letter of CHAMPIONS, each the trained champion's model, made champion in that order; those in REFUSED rolled
    back by a rollout decision."""
    folder = root / "registry"
    state = json.loads((folder / "registry.json").read_text())
    model = next(e for e in state["versions"] if e["version"] == state["aliases"]["champion"])
    decision = {"time": PAST, "reason": "worse than the champion", "decision": "decisions/x/t.json"}
    versions = [model | {"version": v} | ({"refused": decision} if v in refused else {}) for v in champions]
    moves = [{"time": PAST, "alias": "champion", "from": before, "to": after, "reason": f"promote {after}",
              "blessed": True, "forced": False, "blessing": f"blessings/{after}.json"}
             for before, after in zip([None, *champions], champions)]
    (folder / "registry.json").write_text(json.dumps({"aliases": {"champion": champions[-1]}, "versions": versions}))
    (folder / "history.jsonl").write_text("".join(json.dumps(move) + "\n" for move in moves))
    (folder / "registry.json.bak").unlink(missing_ok=True)


@pytest.mark.slow  # four CLI processes; the walk itself: tests/unit/test_registry_store.py
def test_rollbacks_walk_down_the_champion_history_and_a_refused_version_needs_force(trained, tmp_path):
    """Finding 6: a, b, c, d champions in turn, b refused by a rollout decision: rollback goes to c, then past b to
    a, then says there is nothing left, never back up; `promote b` needs --force and a reason."""
    root = tmp_path / "project"
    shutil.copytree(trained, root)
    older_registry(root, "abcd", refused="b")
    assert "champion: d -> c (rollback)" in cli(root, "rollback").stderr
    assert "champion: c -> a (rollback)" in cli(root, "rollback").stderr
    nothing, refused = map(finished, [start(root, "rollback"), start(root, "promote", "b")])
    assert nothing.returncode == 1 and "nothing left to roll back to" in nothing.stderr, nothing.stderr
    assert refused.returncode == 1 and "b was rolled back by a rollout decision" in refused.stderr, refused.stderr
    assert "use --force --reason" in refused.stderr and files(root)[0]["aliases"] == {"champion": "a"}


@pytest.mark.slow  # seven CLI processes; reading damaged files: tests/unit/test_registry_store.py
def test_damaged_registry_files_give_a_message_not_a_traceback(trained, tmp_path):
    """Finding 7: a torn last line of history.jsonl is left out, and set aside by the next write, with a warning;
    with registry.json cut short, rollback, rollout, models, serve and history each name the file and its last
    good copy."""
    root = tmp_path / "project"
    shutil.copytree(trained, root)
    older_registry(root, "ab")
    with (root / "registry/history.jsonl").open("a") as history:
        history.write('{"time": "2026-01-01T00:00:00+00:00", "alias": "champ')  # an append cut short
    ledger, back = map(finished, [start(root, "history", "--json"), start(root, "rollback")])
    assert back.returncode == 0 and "champion: b -> a" in back.stderr and "set aside" in back.stderr, back.stderr
    assert ledger.returncode == 0, ledger.stderr
    assert [e["summary"] for e in json.loads(ledger.stdout) if e["kind"] == "alias"][:2] == [
        "champion: none -> a: promote a", "champion: a -> b: promote b"]
    assert '"alias": "champ' in (root / "registry/history.jsonl.uncommitted").read_text()
    state = root / "registry/registry.json"
    state.write_text(state.read_text()[:200])  # cut short
    commands = [("rollback",), ("rollout", "status"), ("models",), ("serve",), ("history",)]
    for command, done in zip(commands, map(finished, [start(root, *command) for command in commands])):
        assert done.returncode == 1 and "registry.json is not JSON" in done.stderr, (command, done.stderr)
        assert "its last good copy is" in done.stderr and "Traceback" not in done.stderr, (command, done.stderr)


def written(directory: str, worker: int, rounds: int) -> int:
    """ROUNDS of two writes by one process: the shared alias moved to this worker's version (nothing to write
    when it is there already), then its own alias moved or removed, in turn. How many it wrote."""
    registry, writes = Registry(Path(directory)), 0
    for n in range(rounds):
        writes += registry.move("shared", f"v{worker}", "by a worker")["moved"]
        if n % 2:
            registry.remove(f"w{worker}", "by a worker")
        else:
            registry.move(f"w{worker}", f"v{worker}", "by a worker")
        writes += 1
    return writes


def test_writers_in_parallel_lose_no_update(tmp_path):
    """N processes doing M moves and removes each on one registry: every write is in the history and in the state,
    each move of the shared alias starts where the one before it ended, and the revision counts every write."""
    workers, rounds = 4, 15
    registry = Registry(tmp_path)
    for worker in range(workers):
        registry.register({"version": f"v{worker}", "model_tag": f"m:v{worker}", "blessed": True})
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        writes = pool.starmap(written, [(str(tmp_path), worker, rounds) for worker in range(workers)])
    after = Registry(tmp_path)
    history = after.history()
    assert len(history) == sum(writes) and after.revision == workers + sum(writes)
    shared = [record for record in history if record["alias"] == "shared"]
    assert all(later["from"] == earlier["to"] for earlier, later in zip(shared, shared[1:]))
    assert after.aliases == {"shared": shared[-1]["to"]} | {f"w{worker}": f"v{worker}" for worker in range(workers)}


@pytest.mark.slow
@pytest.mark.parametrize("race", range(20))
def test_a_release_and_a_decision_racing_leave_registry_and_history_agreeing(prepared, tmp_path, race):
    """The race of finding 2 left to the scheduler, twenty times, each starter in turn first: whatever the order
    of their writes, registry.json and history.jsonl agree, and neither loses the other's change."""
    root = project(prepared, tmp_path)
    commands = [("release",), ("rollout", "decide")]
    for done in map(finished, [start(root, *command) for command in commands[:: 1 if race % 2 else -1]]):
        assert done.returncode == 0, done.stderr
    state = assert_agreeing(root)
    assert state["aliases"] == {"champion": packaged_version(root), "challenger": packaged_version(root)}
    assert "rollout" not in state and state["versions"][1]["refused"]


@pytest.mark.slow
@pytest.mark.parametrize("point", ["release.registered", "release.challenger", "release.promote",
                                   "registry.appended"])
def test_a_release_killed_at_any_step_is_finished_by_the_next(prepared, tmp_path, point):
    """Killed at each of its crash points, a release leaves the files agreeing, the next one finishes it, and the
    one after that has nothing left to do."""
    root = project(prepared, tmp_path)
    assert finished(start(root, "release", failpoint=point)).returncode == -signal.SIGKILL
    assert_agreeing(root)
    cli(root, "release")
    assert assert_agreeing(root)["aliases"]["champion"] == packaged_version(root)
    history = (root / "registry/history.jsonl").read_text()
    assert "already released" in cli(root, "release").stderr
    assert (root / "registry/history.jsonl").read_text() == history


@pytest.mark.slow
def test_a_write_killed_between_its_two_files_leaves_them_agreeing(prepared, tmp_path):
    """`rollout stop` killed after it appended its history line, before registry.json: the rollout still runs,
    the line is not read, and the next write sets it aside."""
    root = project(prepared, tmp_path)
    assert finished(start(root, "rollout", "stop", failpoint="registry.appended")).returncode == -signal.SIGKILL
    assert assert_agreeing(root)["rollout"]["version"] == "rival"
    assert "candidate rival beside champion" in cli(root, "rollout", "status").stderr
    cli(root, "rollout", "stop", "--reason", "again")
    assert "rollout" not in assert_agreeing(root)
    assert "stopped by hand" in (root / "registry/history.jsonl.uncommitted").read_text()
