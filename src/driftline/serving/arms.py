"""Which arm of a canary rollout answers a record: a stable hash of its id, the same in every process."""

from __future__ import annotations

import hashlib

CHAMPION_ARM, CANDIDATE_ARM = "champion", "candidate"
MODES = ("shadow", "canary")  # the rollouts a service runs: the candidate beside the champion, or answering


def canary_arm(record_id: str, share: float) -> str:
    """CANDIDATE_ARM for the records whose id hashes below SHARE (uniform on [0, 1)), else CHAMPION_ARM.

    SHA-256 rather than Python's hash(), which is salted per process: a record keeps its arm across the
    service's workers and restarts, and a client that retries an id gets the same model."""
    point = int.from_bytes(hashlib.sha256(record_id.encode()).digest()[:8], "big") / 2**64
    return CANDIDATE_ARM if point < share else CHAMPION_ARM
