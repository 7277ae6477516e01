"""The quality figures as pictures: PNGs drawn by matplotlib on the server (no CDN, no script: the pages
work offline and under their strict CSP). One function per chart, each a report in and PNG bytes out."""

from __future__ import annotations

import io
import threading

import matplotlib

matplotlib.use("Agg")  # no display: draw into memory

from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)

from gourmetgram import names  # noqa: E402
from gourmetgram.quality import ModelQuality  # noqa: E402

# matplotlib keeps caches (fonts, text layout) that it does not guard: one chart at a time per process.
_DRAWING = threading.Lock()
SHORT = ("Bread", "Dairy", "Dessert", "Egg", "Fried", "Meat", "Noodles", "Rice", "Seafood", "Soup", "Veg/Fruit")
COLOURS = (
    "#e8a33d",
    "#f3e0b5",
    "#d9480f",
    "#f5d90a",
    "#b5651d",
    "#a61e4d",
    "#f08c00",
    "#dee2e6",
    "#1c7ed6",
    "#2b8a3e",
    "#74b816",
)


def _png(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100, bbox_inches="tight")
    return out.getvalue()


def confusion(report: ModelQuality) -> bytes:
    """Reviewed photos by what a person said (rows) and what the model said (columns)."""
    with _DRAWING:
        fig = Figure(figsize=(6.4, 5.6))
        ax = fig.subplots()
        matrix = report.confusion
        most = max((max(row) for row in matrix), default=0) or 1
        ax.imshow(matrix, cmap="Oranges", vmin=0, vmax=most)
        for h, row in enumerate(matrix):
            for p, count in enumerate(row):
                if count:
                    ax.text(
                        p,
                        h,
                        str(count),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if count > most / 2 else "black",
                    )
        ticks = range(len(names.CLASSES))
        ax.set_xticks(ticks, SHORT, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(ticks, SHORT, fontsize=8)
        ax.set_xlabel("model's class")
        ax.set_ylabel("reviewer's class")
        ax.set_title(f"Confusion matrix ({report.reviewed} reviewed photos)", fontsize=10)
        return _png(fig)


def reliability(report: ModelQuality) -> bytes:
    """Accuracy against confidence on reviewed photos: a calibrated model's bars touch the diagonal."""
    with _DRAWING:
        fig = Figure(figsize=(6.4, 4.4))
        ax = fig.subplots()
        filled = [b for b in report.bins if b.count]
        ax.plot([0, 1], [0, 1], linestyle="--", color="#888", linewidth=1, label="calibrated")
        ax.bar(
            [b.lower for b in filled],
            [b.accuracy for b in filled],
            width=0.1,
            align="edge",
            color="#d9480f",
            alpha=0.8,
            edgecolor="white",
            label="accuracy",
        )
        ax.plot(
            [b.mean_confidence for b in filled],
            [b.accuracy for b in filled],
            "o",
            color="#222",
            markersize=4,
            label="mean confidence",
        )
        for b in filled:
            ax.text(b.lower + 0.05, min(b.accuracy + 0.02, 0.97), f"n={b.count}", ha="center", fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy (reviewed photos)")
        ece = report.calibration_error
        ax.set_title(
            "Reliability diagram" + (f" (calibration error {ece:.3f})" if ece is not None else ""), fontsize=10
        )
        ax.legend(loc="upper left", fontsize=8)
        return _png(fig)


def classes_per_day(report: ModelQuality) -> bytes:
    """Photos per day (UTC), stacked by the model's class."""
    with _DRAWING:
        fig = Figure(figsize=(7.2, 4.0))
        ax = fig.subplots()
        days = list(report.days)
        labels = [d.strftime("%m-%d") for d in days]
        bottom = [0] * len(days)
        for i, short in enumerate(SHORT):
            counts = [report.days[d].classes[i] for d in days]
            if any(counts):
                ax.bar(labels, counts, bottom=bottom, color=COLOURS[i], label=short, edgecolor="white", linewidth=0.3)
                bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
        ax.set_ylabel("photos")
        ax.set_title("Class distribution per day (model's class)", fontsize=10)
        ax.tick_params(axis="x", labelsize=8, rotation=45)
        ax.legend(fontsize=7, ncols=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _png(fig)


def low_confidence_per_day(report: ModelQuality, threshold: float) -> bytes:
    """The share of each day's photos under the review threshold."""
    with _DRAWING:
        fig = Figure(figsize=(7.2, 3.2))
        ax = fig.subplots()
        days = list(report.days)
        shares = [report.days[d].low_confidence_share * 100 for d in days]
        ax.bar([d.strftime("%m-%d") for d in days], shares, color="#868e96")
        for x, (d, share) in enumerate(zip(days, shares, strict=True)):
            ax.text(x, share + 1, f"{report.days[d].low_confidence}/{report.days[d].photos}", ha="center", fontsize=7)
        ax.set_ylim(0, 105)
        ax.set_ylabel("% of photos")
        ax.set_title(f"Photos under {threshold:.2f} confidence, per day", fontsize=10)
        ax.tick_params(axis="x", labelsize=8, rotation=45)
        return _png(fig)


def all_charts(report: ModelQuality, threshold: float) -> dict[str, bytes]:
    """Every chart of a report, by file stem."""
    return {
        "confusion": confusion(report),
        "reliability": reliability(report),
        "classes-per-day": classes_per_day(report),
        "low-confidence-per-day": low_confidence_per_day(report, threshold),
    }
