"""`gourmetgram quality`: the model's figures on real traffic in a terminal (or as JSON, Prometheus text,
and PNG charts), the same figures as the `/quality` page."""

from __future__ import annotations

from pathlib import Path

from gourmetgram import names
from gourmetgram.model_comparison import Comparison
from gourmetgram.quality import ModelQuality

SHORT = ("Brd", "Dai", "Des", "Egg", "Fri", "Mea", "Noo", "Ric", "Sea", "Sou", "Veg")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def text(reports: list[ModelQuality], threshold: float, since: str, until: str) -> str:
    if not reports:
        return f"no labelled photo uploaded from {since} to {until}"
    lines = [f"photos uploaded from {since} to {until} (UTC)"]
    for r in reports:
        interval = f" (95 % interval {_percent(r.interval[0])} to {_percent(r.interval[1])})" if r.interval else ""
        lines += [
            "",
            f"model {r.model_version}",
            f"  photos {r.photos}, reviewed {r.reviewed}, corrected by uploaders {r.corrected}, flagged {r.flagged}",
            f"  accuracy on reviewed photos: {_percent(r.accuracy)}{interval}, {r.correct} of {r.reviewed}",
        ]
        if r.reviewed:
            lines.append(f"  calibration error: {r.calibration_error:.3f}")
            lines.append("  confusion matrix (rows: reviewer's class, columns: model's class):")
            lines.append("    " + " " * 16 + "".join(f"{s:>5}" for s in SHORT))
            for h, row in enumerate(r.confusion):
                lines.append(f"    {names.CLASSES[h]:16}" + "".join(f"{n:>5}" for n in row))
            lines.append("  reliability (confidence bin: photos, mean confidence, accuracy):")
            for b in r.bins:
                if b.count:
                    lines.append(
                        f"    {b.lower:.1f}-{b.upper:.1f}: {b.count:>5}, {b.mean_confidence:.3f}, {b.accuracy:.3f}"
                    )
        lines.append(f"  per day (photos, share under {threshold:.2f}, then the model's classes):")
        lines.append("    " + " " * 10 + f"{'photos':>7}{'low':>8}" + "".join(f"{s:>5}" for s in SHORT))
        for day, d in r.days.items():
            lines.append(
                f"    {day.isoformat()}{d.photos:>7}{d.low_confidence_share * 100:>7.0f}%"
                + "".join(f"{n:>5}" for n in d.classes)
            )
    return "\n".join(lines)


def comparison_text(c: Comparison, roles: dict[str, str] | None = None) -> list[str]:
    """Two models side by side on the reviewed photos both labelled; `roles` names a version's alias."""
    roles = roles or {}

    def name(version: str) -> str:
        return f"{version} ({roles[version]})" if version in roles else version

    def accuracy(correct: int, interval: tuple[float, float] | None) -> str:
        if interval is None:
            return "-"
        return (
            f"{_percent(correct / c.paired)} (95 % interval {_percent(interval[0])} to {_percent(interval[1])}), "
            f"{correct} of {c.paired}"
        )

    lines = [
        "",
        f"{name(c.a)} against {name(c.b)}, on the {c.paired} reviewed photo(s) both labelled",
        f"  {c.a}: {accuracy(c.a_correct, c.a_interval)}",
        f"  {c.b}: {accuracy(c.b_correct, c.b_interval)}",
        f"  only {c.a} right: {len(c.only_a)}; only {c.b} right: {len(c.only_b)} "
        f"(McNemar exact, two-sided: p = {c.p_value:.3g})",
        f"  same answer: {_percent(c.agreement)}",
    ]
    if c.paired:
        lines.append(f"  answers (rows: {c.a}'s class, columns: {c.b}'s):")
        lines.append("    " + " " * 16 + "".join(f"{s:>5}" for s in SHORT))
        for i, row in enumerate(c.confusion):
            lines.append(f"    {names.CLASSES[i]:16}" + "".join(f"{n:>5}" for n in row))
    return lines


def write_charts(reports: list[ModelQuality], threshold: float, folder: Path) -> list[Path]:
    """Every chart of every report as `<folder>/<model_version>-<chart>.png`."""
    from gourmetgram import quality_charts

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for r in reports:
        for name, png in quality_charts.all_charts(r, threshold).items():
            path = folder / f"{names.tag_value(r.model_version).replace('/', '_')}-{name}.png"
            path.write_bytes(png)
            written.append(path)
    return written
