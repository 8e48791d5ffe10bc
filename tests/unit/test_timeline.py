"""The report index's timeline: per task, the estimate with its band, the realised values where labels arrived,
the thresholds, the alerts and the champion's changes, over the drifted share and the largest fairness gap; old
and partial summaries still render, and fifty runs render quickly."""

import json
import math
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from pydantic import ValidationError

from driftline.monitoring.summary import Summary
from driftline.reporting.index import build_index
from driftline.reporting.timeline import changes, placed, series, spans
from tests.helpers.summaries import ENDS, old_summary, summary, typed, write

PARTS = ("band", "estimate", "realised", "threshold-lower", "threshold-upper", "alerts", "champion-changes",
         "drifted-share", "fairness-gap")


def labelled_on_part(windows: int = 4) -> list[dict]:
    """WINDOWS daily runs of a binary model: no labels on the first, half of them on the second, all of them (and
    so no estimate of unlabelled rows, nor its error) on the third; an alert on the third, a new champion from
    the third on."""
    runs = []
    for n in range(windows):
        each = summary(min(n, 2))
        end = ENDS[0] + timedelta(days=n)
        each["window"]["end"] = end.isoformat()
        each["created"] = f"{end + timedelta(hours=1):%Y-%m-%dT%H%M%S.%fZ}"
        each["alerts"] = each["alerts"] if n == 2 else []
        each["model_version"] = "v1" if n < 2 else "v2"
        if n == 2:
            each["performance"] |= {"estimated": None, "label_coverage": 1.0}
            del each["performance"]["sampling_error"]
        runs.append(each)
    return runs


def figures_of(index: Path) -> dict[str, ET.Element]:
    """The index's timeline figures, by file name, parsed; they must lie under reports/ and be linked relatively."""
    found = {}
    for src in re.findall(r'<section class="timeline">.*?</section>', index.read_text(), re.S)[0:1]:
        for target in re.findall(r'<img src="([^"]+)"', src):
            assert not re.match(r"[a-z]+:|/", target)
            found[Path(target).name] = ET.parse(index.parent / unquote(target)).getroot()
    return found


def part(svg: ET.Element, gid: str) -> ET.Element:
    [element] = [e for e in svg.iter() if e.get("id") == gid]
    return element


def marks(element: ET.Element) -> int:
    """How many markers a line drew (each a <use> of its marker)."""
    return len([e for e in element.iter() if e.tag.endswith("use")])


def shapes(element: ET.Element) -> int:
    """How many shapes a collection drew (each a <path>)."""
    return len([e for e in element.iter() if e.tag.endswith("path")])


def test_the_index_draws_estimates_band_realised_values_thresholds_alerts_and_champion_changes(tmp_path):
    runs = labelled_on_part()
    write(tmp_path / "reports" / "monitoring", runs)
    svg = figures_of(build_index(tmp_path))["binary.svg"]
    assert all(part(svg, gid) is not None for gid in PARTS)
    assert shapes(part(svg, "band")) == 3  # every window with the estimate's error
    assert marks(part(svg, "estimate")) == 4  # the fully labelled one: the estimate of its labelled rows
    assert marks(part(svg, "realised")) == 3  # not the first, which had no labels
    assert marks(part(svg, "alerts")) == 1 and shapes(part(svg, "champion-changes")) == 1

    drawn = series(typed(runs), "roc_auc", "demographic_parity_difference")
    assert drawn["estimated"] == pytest.approx([0.93, 0.88, 0.825, 0.83])
    assert math.isnan(drawn["error"][2]) and drawn["error"][0] == 0.01
    assert math.isnan(drawn["realised"][0]) and drawn["realised"][1:] == pytest.approx([0.87, 0.82, 0.82])
    assert drawn["lower"] == [0.86] * 4 and drawn["upper"] == [0.98] * 4
    assert drawn["drifted"] == pytest.approx([0, 0.05, 0.1, 0.1]) and drawn["gap"][0] == pytest.approx(0.16)
    assert changes(typed(runs)) == [2]


def test_old_and_partial_summaries_still_render(tmp_path):
    runs = [old_summary(n) for n in range(3)] + [labelled_on_part()[1] | {"performance": None, "fairness": None}]
    write(tmp_path / "reports" / "monitoring", runs)
    index = build_index(tmp_path)
    assert index.read_text().count('<li class="run"') == 4
    svg = figures_of(index)["binary.svg"]
    assert shapes(part(svg, "band")) == 0 and marks(part(svg, "realised")) == 0
    assert marks(part(svg, "alerts")) == 1 and marks(part(svg, "drifted-share")) == 4
    assert "no performance figures in these runs" in ET.tostring(svg, encoding="unicode")


def test_each_task_gets_its_figure_and_runs_it_cannot_place_are_left_out(tmp_path):
    multiclass = labelled_on_part(1)[0] | {"task": "multiclass", "performance": {"estimated": {"log_loss": 0.6}}}
    hostile = labelled_on_part(1)[0] | {"task": "../<b>"}
    undated = {key: value for key, value in old_summary(0).items() if key != "created"}
    write(tmp_path / "reports" / "monitoring", [*labelled_on_part(2), multiclass, hostile])
    (tmp_path / "reports" / "monitoring" / "2026-11-01" / "undated").mkdir(parents=True)
    (tmp_path / "reports" / "monitoring" / "2026-11-01" / "undated" / "summary.json").write_text(json.dumps(undated))
    (tmp_path / "reports" / "timeline").mkdir()
    (tmp_path / "reports" / "timeline" / "regression.svg").write_text("<svg/>")  # from runs no longer there
    figures = figures_of(build_index(tmp_path))
    assert sorted(figures) == ["binary.svg", "multiclass.svg"]
    assert sorted(p.name for p in (tmp_path / "reports" / "timeline").iterdir()) == sorted(figures)
    assert marks(part(figures["multiclass.svg"], "estimate")) == 1
    with pytest.raises(ValidationError, match="created"):  # the index leaves it out (logged)
        Summary.model_validate(undated)
    assert [kind for kind in placed(typed([multiclass]))] == ["multiclass"]


def test_a_lone_window_gets_a_day_and_the_others_reach_halfway_to_their_neighbours():
    import numpy as np

    assert [list(edge) for edge in spans(np.array([10.0]))] == [[9.5], [10.5]]
    left, right = spans(np.array([0.0, 2.0, 3.0]))
    assert list(left) == [-1.0, 1.0, 2.5] and list(right) == [1.0, 2.5, 3.5]


def test_fifty_runs_render_every_window(tmp_path):
    """Fifty windows, each drawn once (the time it takes is benchmarks/monitor.py's to measure, not a test's)."""
    runs = []
    for n in range(50):
        each = summary(n % 3)
        end = ENDS[0] + timedelta(days=n)
        each["window"]["end"] = end.isoformat()
        each["created"] = f"{end + timedelta(hours=1):%Y-%m-%dT%H%M%S.%fZ}"
        runs.append(each)
    write(tmp_path / "reports" / "monitoring", runs)
    svg = figures_of(build_index(tmp_path))["binary.svg"]
    assert marks(part(svg, "estimate")) == 50 and marks(part(svg, "drifted-share")) == 50
