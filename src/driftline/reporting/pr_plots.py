"""The report's plots as PNG files, drawn offline with matplotlib from the data that dvc.yaml declares as plots.

dvc.yaml stays the one source of which plots exist: its top-level `plots:` (ROC, calibration, the SHAP
images) and each stage's plots that name their axes (train's history). A pull request's comment renders PNGs,
not Vega specs, and nothing here needs a browser or the network.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")  # no display on a CI runner

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg", ".gif")


@dataclass(frozen=True)
class Plot:
    """One line plot: its TITLE, the x field, and (file, y field) for each line."""

    title: str
    x: str
    lines: tuple[tuple[str, str], ...]


def declared_plots(dvc_yaml: dict) -> tuple[list[Plot], list[str]]:
    """The line plots and the image files that dvc.yaml declares: its top-level `plots:`, then the stages'
    plots that name both axes (a stage's plot without axes is drawn by a top-level definition)."""
    plots, images = [], []
    stage_entries = [e for stage in dvc_yaml.get("stages", {}).values() for e in stage.get("plots", [])]
    for entry in dvc_yaml.get("plots", []) + stage_entries:
        name, spec = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        if name.lower().endswith(IMAGE_SUFFIXES):
            images.append(name)
        elif spec.get("x") and spec.get("y"):
            y = spec["y"]
            lines = tuple(y.items()) if isinstance(y, dict) else ((name, y),)
            title = name if isinstance(y, dict) else f"{y} by {spec['x']} ({Path(name).stem})"
            plots.append(Plot(title, spec["x"], lines))
    return plots, images


def records(text: str, path: str) -> pd.DataFrame:
    """A plot file's rows: JSON (a list of records, or one list under a key), CSV or TSV, as DVC reads them."""
    if path.endswith(".json"):
        data = json.loads(text)
        if isinstance(data, dict):  # {"key": [records]}, as `dvc plots` also accepts
            data = next(iter(data.values()))
        return pd.DataFrame(data)
    return pd.read_csv(io.StringIO(text), sep="\t" if path.endswith(".tsv") else ",")


def file_name(title: str) -> str:
    """A PNG name from a plot's title: lower case, words joined by dashes."""
    return re.sub(r"[^a-z0-9_]+", "-", title.lower()).strip("-") + ".png"


def draw(plot: Plot, read: Callable[[str, bool], str | None], target: Path) -> bool:
    """Draw PLOT's lines, the candidate's solid and the base's dashed where READ(path, base) finds them;
    False (and no file) where the candidate has none of its data."""
    figure, axes = plt.subplots(figsize=(6, 4.5))
    drawn = False
    for path, field in plot.lines:
        for base, style in ((False, "-"), (True, "--")):
            text = read(path, base)
            if text is None:
                continue
            rows = records(text, path)
            if plot.x in rows and field in rows:
                label = f"{Path(path).stem} ({'base' if base else 'candidate'})"
                axes.plot(rows[plot.x], rows[field], style, label=label, linewidth=1.4 if not base else 1)
                drawn |= not base
    if drawn:
        axes.set(title=plot.title, xlabel=plot.x, ylabel=", ".join(sorted({f for _, f in plot.lines})))
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(target, dpi=100)
    plt.close(figure)
    return drawn


def render(root: Path, base_text: Callable[[str], str | None], folder: Path) -> dict[str, str]:
    """Draw every declared plot and copy every declared image into FOLDER; {title: file name} of each written.
    BASE_TEXT(path) reads a file at the base revision (None where it has none)."""
    folder.mkdir(parents=True, exist_ok=True)
    plots, images = declared_plots(yaml.safe_load((root / "dvc.yaml").read_text()))

    def read(path: str, base: bool) -> str | None:
        if base:
            return base_text(path)
        return (root / path).read_text() if (root / path).is_file() else None

    written = {}
    for plot in plots:
        name = file_name(plot.title)
        if draw(plot, read, folder / name):
            written[plot.title] = name
    for image in images:
        if (root / image).is_file():
            shutil.copy(root / image, folder / Path(image).name)
            written[Path(image).stem.replace("_", " ")] = Path(image).name
    return written
