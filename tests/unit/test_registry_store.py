"""The registry's aliases and its files: a move to where an alias already points changes nothing; a transaction
writes its history lines and state together or not at all; lines no registry.json committed (a crash, a torn
append) are left out and set aside; a registry.json that does not parse points to its last good copy; rollbacks
walk the champion history down, past refused versions, also in histories written before rollbacks were marked."""

import json

import pytest

from driftline.errors import RegistryError
from driftline.registry.store import CHAMPION, Registry


def registry_of(tmp_path, *versions: str) -> Registry:
    registry = Registry(tmp_path)
    for version in versions:
        registry.register({"version": version, "model_tag": f"driftline:{version}", "blessed": True})
    return registry


def old_registry(tmp_path, versions: str, champion: str, moves: list[tuple], tail: str = "") -> Registry:
    """A registry as driftline wrote it before transactions: no revision, no history_lines; MOVES (from, to) of the
    champion, then TAIL."""
    (tmp_path / "registry.json").write_text(json.dumps({"aliases": {CHAMPION: champion}, "versions": [
        {"version": v, "model_tag": f"driftline:{v}", "blessed": True} for v in versions]}))
    lines = [json.dumps({"time": "t", "alias": CHAMPION, "from": before, "to": after, "reason": f"to {after}",
                         "blessed": True, "forced": False, "blessing": f"blessings/{after}.json"})
             for before, after in moves]
    (tmp_path / "history.jsonl").write_text("".join(line + "\n" for line in lines) + tail)
    return Registry(tmp_path)


def test_promoting_the_champion_to_itself_moves_nothing(tmp_path):
    registry = registry_of(tmp_path, "a", "b")
    registry.move(CHAMPION, "a", "first")
    registry.move(CHAMPION, "b", "second")
    history = registry.history_path.read_text()
    record = registry.move(CHAMPION, "b", "again", forced=True)
    assert record["moved"] is False and (record["from"], record["to"]) == ("b", "b")
    assert registry.history_path.read_text() == history
    assert Registry(tmp_path).aliases[CHAMPION] == "b"
    assert Registry(tmp_path).previous_champion() == "a"


def test_rollback_skips_self_moves_left_in_an_old_history(tmp_path):
    # `promote b --force` wrote "b -> b" before the fix
    assert old_registry(tmp_path, "ab", "b", [(None, "a"), ("a", "b"), ("b", "b")]).previous_champion() == "a"


def test_no_previous_champion_is_an_error(tmp_path):
    registry = registry_of(tmp_path, "a")
    registry.move(CHAMPION, "a", "first")
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.previous_champion()


def test_a_transaction_writes_its_lines_and_state_together_or_not_at_all(tmp_path):
    registry = registry_of(tmp_path, "a", "b")
    registry.move(CHAMPION, "a", "first")
    assert (registry.revision, registry.history_lines) == (3, 1)
    before = registry.state_path.read_text(), registry.history_path.read_text()
    with pytest.raises(RuntimeError), registry.transaction():
        registry.move(CHAMPION, "b", "second")
        raise RuntimeError("the process fails half-way")
    assert (registry.state_path.read_text(), registry.history_path.read_text()) == before
    assert registry.aliases == {CHAMPION: "a"}  # the object reads the registry again
    with registry.transaction():
        registry.move(CHAMPION, "a", "to itself: nothing to write")
    assert Registry(tmp_path).revision == 3
    assert json.loads((tmp_path / "registry.json.bak").read_text())["revision"] == 2  # the last good copy


def test_lines_past_the_committed_length_are_left_out_then_set_aside(tmp_path, caplog):
    registry = registry_of(tmp_path, "a", "b")
    registry.move(CHAMPION, "a", "first")
    with registry.history_path.open("a") as log:  # a write that died before it replaced registry.json
        log.write(json.dumps({"time": "t", "alias": CHAMPION, "from": "a", "to": "b", "reason": "lost"}) + "\n{\"ti")
    reread = Registry(tmp_path)
    assert [r["reason"] for r in reread.history()] == ["first"] and reread.aliases == {CHAMPION: "a"}
    assert "left out" in caplog.text
    reread.move(CHAMPION, "b", "second")
    assert [r["reason"] for r in Registry(tmp_path).history()] == ["first", "second"]
    assert '"lost"' in (tmp_path / "history.jsonl.uncommitted").read_text() and "set aside" in caplog.text


def test_an_old_registry_loads_without_its_torn_last_line_and_gets_the_new_fields(tmp_path, caplog):
    registry = old_registry(tmp_path, "ab", "a", [(None, "a")], tail='{"time": "2025-')
    assert registry.revision == 0 and [r["to"] for r in registry.history()] == ["a"] and "left out" in caplog.text
    registry.move(CHAMPION, "b", "second")
    state = json.loads(registry.state_path.read_text())
    assert state["revision"] == 1 and state["history_lines"] == 2
    assert [r["to"] for r in Registry(tmp_path).history()] == ["a", "b"]
    assert (tmp_path / "history.jsonl.uncommitted").read_text() == '{"time": "2025-\n'


def test_a_checkout_with_crlf_line_ends_reads_the_same_history(tmp_path):
    registry = registry_of(tmp_path, "a", "b")
    registry.move(CHAMPION, "a", "first")
    registry.move(CHAMPION, "b", "second")
    registry.history_path.write_bytes(registry.history_path.read_bytes().replace(b"\n", b"\r\n"))  # git autocrlf
    Registry(tmp_path).move(CHAMPION, "a", "back")
    assert [r["reason"] for r in Registry(tmp_path).history()] == ["first", "second", "back"]
    assert not (tmp_path / "history.jsonl.uncommitted").exists()


def test_a_registry_json_that_does_not_parse_names_its_last_good_copy(tmp_path):
    registry = registry_of(tmp_path, "a", "b")  # the second write keeps the first state as the last good copy
    text = registry.state_path.read_text()
    registry.state_path.write_text(text[: len(text) // 2])
    with pytest.raises(RegistryError, match=r"registry\.json is not JSON.*its last good copy is .*registry\.json\.bak"):
        Registry(tmp_path)
    (tmp_path / "registry.json.bak").unlink()
    with pytest.raises(RegistryError, match="no last good copy .* restore it from git"):
        Registry(tmp_path)


def test_a_writer_that_skips_the_lock_is_caught_by_the_revision(tmp_path):
    registry = registry_of(tmp_path, "a", "b")
    history = registry.history_path.read_text() if registry.history_path.exists() else ""
    with pytest.raises(RegistryError, match="changed under this write"), registry.transaction():
        registry.move(CHAMPION, "a", "first")
        state = json.loads(registry.state_path.read_text())
        registry.state_path.write_text(json.dumps(state | {"revision": 7}))  # as an edit by hand would
    assert not registry.history_path.exists() or registry.history_path.read_text() == history


def test_rollbacks_walk_the_champion_history_down_past_refused_versions(tmp_path):
    registry = registry_of(tmp_path, "a", "b", "c", "d")
    for version in "abcd":
        registry.move(CHAMPION, version, f"promote {version}")
    with registry.transaction():
        registry.get("b")["refused"] = {"time": "t", "reason": "worse", "decision": "decisions/b/t.json"}
    walked = []
    for _ in range(2):
        walked.append(registry.previous_champion())
        registry.move(CHAMPION, walked[-1], "rollback", rollback=True)
    assert walked == ["c", "a"] and registry.history()[-1]["rollback"] is True
    with pytest.raises(RegistryError, match="nothing left to roll back to"):
        registry.previous_champion()
    registry.move(CHAMPION, "d", "promoted by hand again")
    assert registry.previous_champion() == "a"


def test_an_old_history_reads_a_move_back_to_the_previous_champion_as_a_rollback(tmp_path):
    # as `driftline rollback` wrote c -> b before rollbacks were marked
    registry = old_registry(tmp_path, "abc", "b", [(None, "a"), ("a", "b"), ("b", "c"), ("c", "b")])
    assert registry.champions() == ["a", "b"] and registry.previous_champion() == "a"
