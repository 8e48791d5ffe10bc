"""How far a window's performance estimate may stray by chance, and when it should sound an alarm: the test split's
spread that the package stage stored (core.spread: spread_reference), scaled to each monitored window
(window_spread).

A metric's spread shrinks as the root of the rows, so a window of another size than a reference chunk gets the
chunks' standard deviation scaled by that root: it is judged as NannyML judges a chunk of its size, alarming
outside the chunks' mean ± SPREAD standard deviations, clipped to the metric's range (NannyML's
StandardDeviationThreshold).
"""

from __future__ import annotations

import math

BAND = 3  # the estimate's band is ±3 sampling errors, as NannyML draws it
SPREAD = 3  # thresholds at the chunks' mean ± 3 standard deviations (NannyML's StandardDeviationThreshold)
UNBOUNDED = ("log_loss", "mae", "rmse")  # the other estimated metrics are rates, in [0, 1]


def window_spread(spread: dict, estimated: dict | None, estimated_rows: int, rows: int) -> dict:
    """What a window's summary gets of an estimator's SPREAD (spread_reference; nothing of what it lacks):

    - `sampling_error`: {metric: standard error} of each metric the ESTIMATED figures hold, over the
      ESTIMATED_ROWS rows they cover: sd / sqrt(rows), NannyML's sampling error;
    - `thresholds`: {metric: {"lower", "upper"}}, the chunks' mean ∓ 3 standard deviations, the deviation scaled
      from the chunks' size m to the window's ROWS by sqrt(m / rows) (a metric's spread shrinks as the root of
      the rows), so that a window is judged as NannyML judges a chunk of its own size; then clipped to the
      metric's range (rates in [0, 1], losses and errors at least 0), as NannyML clips them.
    """
    found = {}
    sd = (spread.get("sampling_error") or {}).get("sd") or {}
    if sd and estimated and estimated_rows:
        errors = {m: sd[m] / math.sqrt(estimated_rows) for m, v in estimated.items() if v is not None and m in sd}
        found["sampling_error"] = errors
    chunks = spread.get("thresholds")
    if chunks and chunks.get("chunk_rows") and rows:
        scale = math.sqrt(chunks["chunk_rows"] / rows)
        found["thresholds"] = {metric: _bounds(metric, s["mean"], SPREAD * scale * s["std"])
                               for metric, s in chunks["metrics"].items()}
    return found


def _bounds(metric: str, mean: float, offset: float) -> dict[str, float]:
    upper = mean + offset if metric in UNBOUNDED else min(1.0, mean + offset)
    return {"lower": max(0.0, mean - offset), "upper": upper}
