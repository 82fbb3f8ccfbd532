"""The ``gbinfer explain`` command: the SHAP values of a data file's rows, written as ``gbinfer
predict`` writes predictions, and optionally a summary plot of them (``gbinfer.plot``).

Rows are read, matched to the model's features and explained chunk by chunk through the same
``tabular`` machinery as ``predict``, so memory stays bounded by the chunk size: the plot keeps
only each feature's running sum of |SHAP| (which orders the features, over every row) and a
uniform sample of rows for its dots.

Output layout: ``.npy`` holds the array ``Model.predict_contribs`` (or ``predict_interactions``)
returns, rows stacked. CSV, Parquet and Arrow hold one row per input row and one column per value
of its array in C order, named after the features: ``f0, ..., bias``; for a model with several
outputs ``f0[0], ..., bias[0], f0[1], ...`` (output by output, which is also lightgbm's
``pred_contrib`` layout); interaction values ``a:b`` (``a:b[k]``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import plot
from .errors import DataError

BIAS = "bias"


def add_arguments(p) -> None:
    """The command's own options (the data file's are ``predict``'s, added by the caller)."""
    p.add_argument("model")
    p.add_argument("-o", "--output", help=".npy (the array, as Model.predict_contribs returns it), .csv (a header "
                                          "of feature names and bias), .parquet or .arrow/.feather; default: CSV on "
                                          "standard output, unless --plot is given")
    p.add_argument("--interactions", action="store_true",
                   help="SHAP interaction values, (rows, F+1, F+1) per output, as xgboost's pred_interactions")
    p.add_argument("--approximate", action="store_true",
                   help="Saabas attributions instead of exact TreeSHAP, as xgboost's approx_contribs")
    p.add_argument("--plot", metavar="FILE", help="write a summary (beeswarm) plot: .png, .svg or .pdf; "
                                                 "needs pip install 'gbinfer[plot]'")
    p.add_argument("--max-display", type=int, metavar="N",
                   help=f"the plot shows the N features of largest mean |SHAP value| (default {plot.MAX_DISPLAY})")
    p.add_argument("--plot-output", type=int, metavar="K",
                   help="plot output K only of a model with several outputs (default: one panel per output)")
    p.add_argument("--plot-rows", type=int, metavar="N",
                   help=f"dots of at most N rows, a uniform sample (default {plot.PLOT_ROWS}); the feature order "
                        "uses every row")


def run(args) -> int:
    from . import load, tabular

    _check_plot_options(args)
    tabular.check_output(args.output)
    model = load(args.model)
    if args.plot_output is not None and not 0 <= args.plot_output < model.num_outputs:
        k = model.num_outputs
        raise DataError(f"--plot-output {args.plot_output}: the model has "
                        f"{'a single output, 0' if k == 1 else f'{k} outputs, 0 to {k - 1}'}")
    names = feature_names(model)
    explain = model.predict_interactions if args.interactions else model.predict_contribs
    summary = Summary(model, args.plot_rows or plot.PLOT_ROWS) if args.plot else None

    def values():
        for dm in tabular.matrices(args.data, model, header=args.header, one_based=args.one_based,
                                   missing=args.missing):
            phi = explain(dm, approximate=args.approximate, iteration_range=args.iteration_range,
                          nthread=args.nthread)
            if summary is not None:
                # a row of interaction values adds up to the feature's contribution
                summary.add(phi.sum(axis=-1, dtype=np.float64) if args.interactions else phi, dm)
            yield phi

    if args.output is not None or args.plot is None:
        tabular.write(values(), args.output, "contribution", columns(names, model.num_outputs, args.interactions))
    else:
        for _ in values():
            pass
    if summary is not None:
        if summary.rows == 0:
            raise DataError(f"{args.data} has no rows: there is nothing to plot")
        outputs = [args.plot_output] if args.plot_output is not None else list(range(summary.importance.shape[0]))
        what = "Saabas" if args.approximate else "SHAP"
        plot.summary(args.plot, summary.shap, summary.values, summary.importance, names, summary.categorical,
                     outputs, max_display=args.max_display or plot.MAX_DISPLAY,
                     xlabel=f"{what} value (contribution to the margin)")
    return 0


def _check_plot_options(args) -> None:
    """Refuse what cannot work before any row is read: plot options without a plot, a plot format
    the writer lacks, counts below one, and a missing matplotlib."""
    given = [f"--{name.replace('_', '-')}" for name in ("max_display", "plot_output", "plot_rows")
             if getattr(args, name) is not None]
    if args.plot is None:
        if given:
            raise DataError(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to the plot; add --plot FILE")
        return
    suffix = Path(args.plot).suffix.lower()
    if suffix not in plot.FORMATS:
        raise DataError(f"--plot {args.plot}: unknown plot format {suffix!r}; expected one of {', '.join(plot.FORMATS)}")
    for name in ("max_display", "plot_rows"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise DataError(f"--{name.replace('_', '-')} {value}: expected a count of at least 1")
    if args.plot_output is not None and args.plot_output < 0:
        raise DataError(f"--plot-output {args.plot_output}: expected an output index, 0 or more")
    plot.require()


def feature_names(model) -> list[str]:
    """The model's feature names, or XGBoost's default ones (``f0``, ``f1``, ...) when it has none."""
    names = model.features.names
    return list(names) if names is not None else [f"f{i}" for i in range(model.num_features)]


def columns(names: list[str], outputs: int, interactions: bool) -> list[str]:
    """A column name for each value of one row's array, in its C order (the outputs axis, present
    for several outputs, first)."""
    labels = [*names, BIAS]
    if interactions:
        labels = [f"{a}:{b}" for a in labels for b in labels]
    if outputs > 1:
        labels = [f"{label}[{k}]" for k in range(outputs) for label in labels]
    return labels


class Summary:
    """What the plot needs, gathered chunk by chunk: per output and feature the sum of |SHAP| over
    every row, and a uniform sample of at most ``keep`` rows (their SHAP values and feature values).

    The sample keeps the rows with the smallest of one random key per row, drawn from a fixed
    seed: any subset of that size is as likely, whatever the chunking, and a run draws the same
    plot again.
    """

    def __init__(self, model, keep: int):
        self.keep = keep
        self.rng = np.random.default_rng(0)
        self.categorical = model.features.categorical_mask(model.num_features).copy()
        self.rows = 0
        self.total = None
        self.keys = np.empty(0)
        self.shap = self.values = None

    def add(self, phi: np.ndarray, dm) -> None:
        phi = (phi[:, None] if phi.ndim == 2 else phi)[:, :, :-1]  # (rows, outputs, features): no bias
        total = np.abs(phi).sum(axis=0, dtype=np.float64)
        self.total = total if self.total is None else self.total + total
        self.rows += len(phi)
        for j in dm.categorical or ():  # category values (strings): codes, not an order to colour by
            self.categorical[j] = True
        keys = np.concatenate([self.keys, self.rng.random(len(phi))])
        shap = phi if self.shap is None else np.concatenate([self.shap, phi])
        values = dm.values if self.values is None else np.concatenate([self.values, dm.values])
        kept = np.sort(np.argpartition(keys, self.keep)[:self.keep]) if len(keys) > self.keep else slice(None)
        self.keys, self.shap, self.values = keys[kept], shap[kept], values[kept]

    @property
    def importance(self) -> np.ndarray:
        """Mean |SHAP value| per output and feature, over every row."""
        return self.total / self.rows
