"""The registry's aliases: a move to where an alias already points changes nothing; rollback finds the previous
different champion, also in a history written before such moves were refused."""

import json

import pytest

from driftline.errors import RegistryError
from driftline.registry.store import CHAMPION, Registry


def registry_of(tmp_path, *versions: str) -> Registry:
    registry = Registry(tmp_path)
    for version in versions:
        registry.register({"version": version, "model_tag": f"driftline:{version}", "blessed": True})
    return registry


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
    registry = registry_of(tmp_path, "a", "b")
    registry.move(CHAMPION, "a", "first")
    registry.move(CHAMPION, "b", "second")
    with registry.history_path.open("a") as log:  # as `promote b --force` wrote it before the fix
        log.write(json.dumps({"time": "t", "alias": CHAMPION, "from": "b", "to": "b", "reason": "again",
                              "blessed": True, "forced": True, "blessing": "blessings/b.json"}) + "\n")
    assert Registry(tmp_path).previous_champion() == "a"


def test_no_previous_champion_is_an_error(tmp_path):
    registry = registry_of(tmp_path, "a")
    registry.move(CHAMPION, "a", "first")
    with pytest.raises(RegistryError, match="no previous champion"):
        registry.previous_champion()
