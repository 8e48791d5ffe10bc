"""Rollouts: a blessed version beside the champion, as the `candidate`, until the evidence decides.

In `shadow` the candidate scores every request and is logged, never answered; in `canary` it answers the
records whose id hashes into `canary_share` (serving.arms). The state is registry.json's `rollout`, so it is
in git and a restarted service reads it again; each start and end is a move of the candidate alias in the
history, with the rollout's mode and share. A start loads and checks both models first (check), then, in one
registry transaction, checks again what the registry says and moves the candidate (begin).
"""

from __future__ import annotations

from driftline.errors import RegistryError
from driftline.registry.resolver import resolve, resolve_entry
from driftline.registry.store import CANDIDATE, CHAMPION, Registry, now
from driftline.serving.arms import MODES


def start(registry: Registry, version: str, mode: str, share: float, reason: str) -> dict:
    """Make VERSION (blessed, loadable, not the champion, not refused) the candidate in MODE; a running rollout of
    another version ends first, superseded. Returns the history record of the candidate's move."""
    entry = registry.get(version)
    champion = check(registry, entry, mode, share)
    with registry.transaction():
        return begin(registry, entry["version"], mode, share, reason, champion)


def refusal(registry: Registry, entry: dict, mode: str, share: float) -> str | None:
    """Why ENTRY cannot be rolled out in MODE beside the champion, as far as the registry alone tells (None: it can)."""
    if mode not in MODES:
        return f"rollout mode '{mode}' is not one of {', '.join(MODES)}"
    if not 0 < share < 1:
        return f"canary share {share} is not between 0 and 1"
    champion = registry.aliases.get(CHAMPION)
    if champion is None:
        return "there is no champion to roll out beside: promote a version first"
    if entry["version"] == champion:
        return f"version {entry['version']} is the champion already"
    if entry.get("refused"):
        return f"version {entry['version']} was rolled back: {entry['refused']['reason']}"
    if not entry["blessed"]:
        return (f"version {entry['version']} is not blessed (failed: {', '.join(entry['failed_checks'])}): only a "
                "blessed version is rolled out")
    return None


def check(registry: Registry, entry: dict, mode: str, share: float) -> str:
    """Refuse what cannot run beside REGISTRY's champion (RegistryError): refusal's reasons, a model the service could
    not load, or one of other records. Loads both models, so it runs before the transaction; returns the champion it
    checked against."""
    problem = refusal(registry, entry, mode, share)
    if problem:
        raise RegistryError(problem)
    candidate = resolve_entry(registry, entry).predictor()  # refuse what the service could not load
    current = resolve(registry, CHAMPION).predictor().schema
    if not current.same_records(candidate.schema):
        raise RegistryError(f"version {entry['version']} answers another task or reads other features than "
                            f"champion {registry.aliases[CHAMPION]}: the service cannot serve both for the same "
                            "records")
    return registry.aliases[CHAMPION]


def begin(registry: Registry, version: str, mode: str, share: float, reason: str, champion: str) -> dict:
    """Inside a transaction: make VERSION, which check() passed beside CHAMPION, the candidate; a running rollout
    ends first, superseded. The registry read again must still allow it."""
    problem = refusal(registry, registry.get(version), mode, share)
    if problem:
        raise RegistryError(problem)
    if registry.aliases[CHAMPION] != champion:
        raise RegistryError(f"the champion moved from {champion} to {registry.aliases[CHAMPION]} while version "
                            f"{version} was checked beside it: start the rollout again")
    if registry.rollout is not None:
        stop(registry, f"superseded by version {version}")
    registry.rollout = {"version": version, "mode": mode, "canary_share": share if mode == "canary" else None,
                        "started": now(), "champion": champion}
    return registry.move(CANDIDATE, version, reason, rollout=registry.rollout)


def stop(registry: Registry, reason: str, **extra) -> dict:
    """End the running rollout: the candidate alias goes, the champion stays. Returns the history record."""
    with registry.transaction():
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
