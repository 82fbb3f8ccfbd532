"""The summary plot of ``gbinfer explain --plot``: shap's beeswarm, drawn with matplotlib.

One line per feature, the features of largest mean |SHAP value| at the top; on each line a dot
per row at its SHAP value, piled up where values crowd, so the line's thickness shows how many
rows share a value. A dot's colour is the row's value of that feature, from low (blue) to high
(red) between the feature's 5th and 95th percentiles (an outlier does not wash out the rest);
grey where the value is missing; one colour for a categorical feature, whose codes have no order
to colour by. A model with several outputs gets a panel per output, each with its own order.

matplotlib (the ``plot`` extra) is imported when a plot is drawn, never with gbinfer, and only
through its object API on an Agg canvas: no pyplot, so no global backend is switched and no
window opened, whatever the calling process does with matplotlib itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import MissingDependency

FORMATS = (".png", ".svg", ".pdf")
MAX_DISPLAY = 20  # features shown (shap's default too)
PLOT_ROWS = 10_000  # rows sampled for the dots
DPI = 100
PANEL_INCHES = 7.0  # width of one panel
COLORBAR_INCHES = 1.0
ROW_INCHES = 0.4  # height per feature shown
FRAME_INCHES = 1.6  # height of the axis, its label and the legend
PANELS_PER_LINE = 3
SPREAD = 0.36  # how far from its line a dot may pile, in lines
LOW, HIGH = "#008bfb", "#ff0051"
MISSING, CATEGORY = "#b0b0b0", "#2a9d8f"


def require() -> None:
    """Refuse early, naming the extra to install, when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependency("matplotlib", "plot", "--plot (the summary plot)") from None


def figure_inches(shown: int, panels: int) -> tuple[float, float]:
    """(width, height) of the figure for ``shown`` features on each of ``panels`` panels; the
    image is this times ``DPI`` pixels."""
    across = min(panels, PANELS_PER_LINE)
    lines = math.ceil(panels / across)
    return PANEL_INCHES * across + COLORBAR_INCHES, lines * (shown * ROW_INCHES + FRAME_INCHES)


def summary(path: str, shap: np.ndarray, values: np.ndarray, importance: np.ndarray, names: list[str],
            categorical: np.ndarray, outputs: list[int], *, max_display: int, xlabel: str) -> None:
    """Draw the plot and write it atomically to ``path`` (format by its suffix).

    ``shap``: (rows, outputs, features) sampled SHAP values without the bias; ``values``: those
    rows' feature values (NaN missing); ``importance``: (outputs, features) mean |SHAP| over all
    rows, which orders the features; ``outputs``: the outputs to draw, a panel each.
    """
    require()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap, Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from .serialization import atomic_write

    num_features = shap.shape[2]
    shown = min(max_display, num_features)
    across = min(len(outputs), PANELS_PER_LINE)
    fig = Figure(figsize=figure_inches(shown, len(outputs)), dpi=DPI, layout="constrained")
    axes = fig.subplots(math.ceil(len(outputs) / across), across, squeeze=False).ravel()
    cmap = LinearSegmentedColormap.from_list("shap", [LOW, HIGH])
    rng = np.random.default_rng(0)  # the pile order within a bin: the same plot every run
    missing = category = False
    for ax, k in zip(axes, outputs):
        order = np.argsort(-importance[k], kind="stable")[:shown]
        for line, j in enumerate(order):
            x = shap[:, k, j]
            colours = point_colours(values[:, j], bool(categorical[j]), cmap)
            ax.scatter(x, shown - 1 - line + swarm(x, rng), c=colours, s=10, linewidths=0, rasterized=True)
            missing |= bool(np.isnan(values[:, j]).any())
            category |= bool(categorical[j])
        ax.set_yticks(range(shown), [names[j] for j in order[::-1]])
        ax.set_ylim(-0.6, shown - 0.4)
        ax.axvline(0.0, color="#999999", linewidth=0.8, zorder=0)
        ax.grid(axis="y", color="#e6e6e6", linestyle="--", linewidth=0.6, zorder=0)
        ax.tick_params(axis="y", length=0)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.set_xlabel(xlabel)
        if shown < num_features:
            ax.set_ylabel(f"{shown} of {num_features} features, by mean |value|")
        if len(outputs) > 1:
            ax.set_title(f"output {k}")
    for ax in axes[len(outputs):]:
        ax.set_visible(False)
    bar = fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), cmap), ax=list(axes[:len(outputs)]), ticks=[0.0, 1.0],
                       aspect=50, pad=0.01)
    bar.set_ticklabels(["low", "high"])
    bar.set_label("feature value", labelpad=-10)
    bar.outline.set_visible(False)
    keys = [("missing value", MISSING, missing), ("categorical feature (no order)", CATEGORY, category)]
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=t) for t, c, used in keys if used]
    if handles:
        fig.legend(handles=handles, loc="outside lower right", frameon=False, ncols=len(handles))
    atomic_write(path, lambda fh: fig.savefig(fh, format=Path(path).suffix.lower()[1:], dpi=DPI))


def point_colours(x: np.ndarray, categorical: bool, cmap) -> np.ndarray:
    """RGBA per dot: the feature value between its 5th and 95th percentile on ``cmap`` (the 1st
    and 99th, or the extremes, when those coincide; the middle when all values are one), grey
    where missing, one colour for a categorical feature."""
    from matplotlib.colors import to_rgba

    nan = np.isnan(x)
    colours = np.empty((len(x), 4))
    if categorical:
        colours[:] = to_rgba(CATEGORY)
    elif (~nan).any():
        known = x[~nan].astype(np.float64)
        for q in (5.0, 1.0, 0.0):
            lo, hi = np.percentile(known, [q, 100.0 - q])
            if hi > lo:
                break
        t = np.clip((x - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full(len(x), 0.5)
        colours[:] = cmap(np.where(nan, 0.5, t))
    colours[nan] = to_rgba(MISSING)
    return colours


def swarm(x: np.ndarray, rng) -> np.ndarray:
    """Vertical offsets that pile dots of close value: the values are cut into 100 bins, and the
    dots of a bin take turns above and below the line (0, +1, -1, +2, ...) in random order,
    scaled so the tallest pile reaches ``SPREAD``."""
    n = len(x)
    if n == 0:
        return np.empty(0)
    lo, hi = float(x.min()), float(x.max())
    bins = np.round(100.0 * (x - lo) / (hi - lo)) if hi > lo else np.zeros(n)
    order = np.lexsort((rng.random(n), bins))
    ranked = bins[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    layer = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    offsets = np.empty(n)
    offsets[order] = np.ceil(layer / 2) * np.where(layer % 2 == 1, 1.0, -1.0)
    peak = np.abs(offsets).max()
    return offsets * (SPREAD / peak) if peak else offsets
