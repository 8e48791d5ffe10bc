"""The pull request report's sections as markdown: plain functions of the numbers, so each is tested alone.

Every table reads the same way, base first and candidate second, so a reviewer scans one direction.
"""

from __future__ import annotations

from driftline.release.blessing import Blessing


def number(value, digits: int = 4) -> str:
    """VALUE to DIGITS decimals; "-" where one side has none (a metric the base did not report yet)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.{digits}f}"


def signed(value, digits: int = 4) -> str:
    """A change with its sign, so that a drop stands out from a gain."""
    return "-" if value is None else f"{value:+.{digits}f}"


def metrics_diff_table(diff: dict[str, dict[str, dict]]) -> list[str]:
    """`dvc metrics diff --all --json`'s {file: {metric: {old, new, diff}}} as one row per metric: the ones that
    changed in the table, the unchanged ones folded below it (GitHub renders <details>), so a reviewer sees
    what moved first."""
    rows = [(path, name, change) for path, metrics in diff.items() for name, change in metrics.items()]
    if not rows:
        return ["No metrics differ from the base (or neither side has any)."]
    head = ["| file | metric | base | candidate | change |", "|---|---|---|---|---|"]

    def table(chosen: list) -> list[str]:
        return head + [f"| {path} | {name} | {number(c.get('old'))} | {number(c.get('new'))} | "
                       f"{signed(c.get('diff'))} |" for path, name, c in chosen]

    changed = [row for row in rows if row[2].get("old") != row[2].get("new")]
    same = [row for row in rows if row[2].get("old") == row[2].get("new")]
    lines = table(changed) if changed else ["No metric changed."]
    if same:
        lines += ["", f"<details><summary>{len(same)} unchanged metric(s)</summary>", "", *table(same), "",
                  "</details>"]
    return lines


def intervals_table(intervals: dict[str, list], primary: str) -> list[str]:
    """The bootstrap's 95% intervals of PRIMARY, each model's and each difference's ("candidate - champion")."""
    return [f"| 95% paired-bootstrap interval of {primary} on the candidate's test split | lower | upper |",
            "|---|---|---|", *[f"| {name} | {number(lo)} | {number(hi)} |" for name, (lo, hi) in intervals.items()]]


def gate_table(verdict: Blessing, source: str) -> list[str]:
    """The gate's checks and verdict; SOURCE says where the verdict came from (a dry run's file, or computed)."""
    word = "**blessed**" if verdict.blessed else "**refused**"
    failed = verdict.failed
    lines = [f"Verdict: {word}" + (f" (failed: {', '.join(failed)})" if failed else "") + f". {source}", "",
             "| check | value | threshold | passed |", "|---|---|---|---|"]
    return lines + [f"| {c.name} | {number(c.value)} | {c.threshold} | {'yes' if c.passed else 'NO'} |"
                    for c in verdict.checks]


def ranks(importance: dict[str, float]) -> dict[str, int]:
    """Each feature's rank, 1 for the largest mean |SHAP|."""
    ordered = sorted(importance, key=importance.get, reverse=True)
    return {name: i + 1 for i, name in enumerate(ordered)}


def shap_table(base: dict[str, float] | None, candidate: dict[str, float], top: int) -> list[str]:
    """The candidate's TOP features by mean |SHAP| beside the base's value and rank of each; the features that
    left the top are listed after, so a new leader and a dropped one are both seen."""
    now = ranks(candidate)
    shown = [name for name, rank in now.items() if rank <= top]
    if base is None:
        return ["The base's SHAP importances are not available (not in its git tree, DVC cache or remote):",
                "the candidate's alone.", "", "| rank | feature | mean abs SHAP |", "|---|---|---|",
                *[f"| {now[name]} | {name} | {number(candidate[name])} |" for name in shown]]
    before = ranks(base)
    left = [name for name, rank in before.items() if rank <= top and name not in shown]
    return ["| feature | base rank | candidate rank | base mean abs SHAP | candidate mean abs SHAP |",
            "|---|---|---|---|---|",
            *[f"| {name} | {before.get(name, '-')} | {now.get(name, '-')} | {number(base.get(name))} "
              f"| {number(candidate.get(name))} |" for name in shown + left]]


def fairness_gaps_table(base: dict | None, candidate: dict) -> list[str]:
    """The audit's gaps (metrics/audit.json) before and after, one row per attribute and gap."""
    if not candidate:
        return ["No sensitive attributes are declared (schema.sensitive): there are no gaps to compare."]
    base = base or {}
    return ["| gap | base | candidate | change |", "|---|---|---|---|",
            *[f"| {name} | {number(base.get(name))} | {number(value)} "
              f"| {signed(value - base[name] if base.get(name) is not None else None)} |"
              for name, value in candidate.items()]]


def contract_lines(result: dict, counts: dict) -> list[str]:
    """The validate stage's verdict on the data, with each failed expectation's type and column."""
    failed = [r["expectation_config"] for r in result.get("results", []) if not r.get("success")]
    head = (f"The data contract {'**passed**' if result.get('success') else '**failed**'}: "
            f"{counts.get('expectations', len(result.get('results', [])))} expectations on "
            f"{counts.get('rows', '?')} rows.")
    return [head, *[f"- failed: {e['type']} {e.get('kwargs', {}).get('column', '')}".rstrip() for e in failed]]


def image_lines(images: dict[str, str]) -> list[str]:
    """Markdown images, each linked by its path relative to the report (so the folder moves as one), each its own
    paragraph so that they stack rather than run together."""
    lines = [line for title, path in images.items() for line in (f"![{title}]({path})", "")]
    return lines[:-1] or ["No plots were found under plots/."]


def report(title: str, sections: dict[str, list[str]]) -> str:
    """The whole report: a title, then each section under its own heading."""
    lines = [f"# {title}", ""]
    for heading, body in sections.items():
        lines += [f"## {heading}", "", *body, ""]
    return "\n".join(lines)
