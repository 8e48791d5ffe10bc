"""Rollouts: a blessed version beside the champion, as the `candidate`, until the evidence decides.

In `shadow` the candidate scores every request and is logged, never answered; in `canary` it answers the
records whose id hashes into `canary_share` (serving.arms). The state is registry.json's `rollout`, so it is
in git and a restarted service reads it again; each start and end is a move of the candidate alias in the
history, with the rollout's mode and share.
"""

from __future__ import annotations

from driftline.errors import RegistryError
from driftline.registry.resolver import resolve, resolve_entry
from driftline.registry.store import CANDIDATE, CHAMPION, Registry, now
from driftline.serving.arms import MODES


def start(registry: Registry, version: str, mode: str, share: float, reason: str) -> dict:
    """Make VERSION (blessed, loadable, not the champion) the candidate in MODE; a running rollout of another
    version ends first, superseded. Returns the history record of the candidate's move."""
    if mode not in MODES:
        raise RegistryError(f"rollout mode '{mode}' is not one of {', '.join(MODES)}")
    if not 0 < share < 1:
        raise RegistryError(f"canary share {share} is not between 0 and 1")
    entry = registry.get(version)
    champion = registry.aliases.get(CHAMPION)
    if champion is None:
        raise RegistryError("there is no champion to roll out beside: promote a version first")
    if entry["version"] == champion:
        raise RegistryError(f"version {entry['version']} is the champion already")
    if entry.get("refused"):
        raise RegistryError(f"version {entry['version']} was rolled back: {entry['refused']['reason']}")
    if not entry["blessed"]:
        raise RegistryError(f"version {entry['version']} is not blessed (failed: {', '.join(entry['failed_checks'])})"
                            ": only a blessed version is rolled out")
    candidate = resolve_entry(registry, entry).predictor()  # refuse what the service could not load
    current = resolve(registry, CHAMPION).predictor().schema
    if not current.same_records(candidate.schema):
        raise RegistryError(f"version {entry['version']} answers another task or reads other features than "
                            f"champion {champion}: the service cannot serve both for the same records")
    if registry.rollout is not None:
        stop(registry, f"superseded by version {entry['version']}")
    registry.rollout = {"version": entry["version"], "mode": mode, "canary_share": share if mode == "canary" else None,
                        "started": now(), "champion": champion}
    return registry.move(CANDIDATE, entry["version"], reason, rollout=registry.rollout)


def stop(registry: Registry, reason: str, **extra) -> dict:
    """End the running rollout: the candidate alias goes, the champion stays. Returns the history record."""
    if registry.rollout is None:
        raise RegistryError("no rollout is running")
    rollout, registry.rollout = registry.rollout, None
    return registry.remove(CANDIDATE, reason, rollout=rollout, **extra)


def status(registry: Registry) -> dict:
    """The running rollout (None when none) and the two versions it compares."""
    rollout = registry.rollout
    return {"rollout": rollout, "champion": registry.aliases.get(CHAMPION),
            "candidate": registry.aliases.get(CANDIDATE)}


def service_env(registry: Registry, model: str, log_on: bool) -> tuple[dict, str]:
    """The service's environment for the registry's running rollout (empty values: none) and a line that says which
    arms are served. Only the champion is served beside a candidate: MODEL (a version) other than the champion
    alias is served alone. LOG_ON: whether the service logs (a shadow without a log scores nothing).

    A candidate that cannot be found (its model gone from the BentoML store and the registry's export) leaves the
    rollout degraded: DRIFTLINE_ROLLOUT_DEGRADED says why, and the champion is served alone rather than not at all."""
    rollout = registry.rollout
    none = dict.fromkeys(("DRIFTLINE_ROLLOUT_MODE", "DRIFTLINE_CANDIDATE_VERSION", "DRIFTLINE_CANDIDATE_TAG",
                          "DRIFTLINE_CANDIDATE_PATH", "DRIFTLINE_CANARY_SHARE", "DRIFTLINE_ROLLOUT_DEGRADED"), "")
    if rollout is None or model != CHAMPION:
        return none, "" if rollout is None else f"; the {rollout['mode']} rollout of {rollout['version']} is not served"
    share = rollout.get("canary_share")
    running = none | {"DRIFTLINE_ROLLOUT_MODE": rollout["mode"], "DRIFTLINE_CANDIDATE_VERSION": rollout["version"],
                      "DRIFTLINE_CANARY_SHARE": str(share) if share is not None else ""}
    try:
        candidate = resolve(registry, CANDIDATE)  # imported into the BentoML store from the registry's export
    except (RegistryError, FileNotFoundError) as exc:  # ModelNotFound is a FileNotFoundError
        reason = f"candidate {rollout['version']} missing: {exc}"
        return running | {"DRIFTLINE_ROLLOUT_DEGRADED": reason}, f"; the {rollout['mode']} rollout is degraded"
    env = running | {"DRIFTLINE_CANDIDATE_VERSION": candidate.entry["version"],
                     "DRIFTLINE_CANDIDATE_TAG": candidate.entry["model_tag"],
                     "DRIFTLINE_CANDIDATE_PATH": str(candidate.path)}
    if rollout["mode"] == "canary":
        arms = f" and candidate {candidate.entry['version']} in canary: it answers {share:.0%} of the records"
    elif log_on:
        arms = f" and candidate {candidate.entry['version']} in shadow: scored and logged, never answered"
    else:
        arms = f"; candidate {candidate.entry['version']} (shadow) scores nothing: the log is off"
    return env, arms
