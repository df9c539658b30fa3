"""Plotly figures of LTV predictions, for notebooks and for the HTML report (the report calls
these same functions).

Every ``plot_*`` function returns a :class:`plotly.graph_objects.Figure` whose hover shows the
numbers; the numbers come from :mod:`ltvkit.report.data` (and so from :mod:`ltvkit.metrics`).
Predictions are given as an array, a :class:`~ltvkit.prediction.Prediction`, a predictions
frame (``y_true``, ``y_pred`` [, ``p_active``, ``q10``, ``q90``], as ``ltv benchmark`` writes
them) or a ``{model: any of those}`` mapping.

The charts follow the evaluation plots of the LTV literature: the gain (cumulative lift)
curve with the normalized Gini and the decile chart of Wang, Liu & Miao, "A Deep Probabilistic
Model for Customer Lifetime Value Prediction" (arXiv:1912.07753, 2019); the probability-alive
and expected-purchases matrices and the tracking plot of Fader, Hardie & Lee, "Counting Your
Customers the Easy Way: An Alternative to the Pareto/NBD Model" (Marketing Science 24(2),
2005), as drawn by lifetimes' ``plotting`` module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ltvkit.report import data as D

#: Colours of the models, in leaderboard order (plotly's qualitative "Plotly" palette).
COLORS = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692",
          "#B6E880", "#FF97FF", "#FECB52")
TEMPLATE = "plotly_white"


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def _frame(pred: Any, y: Any) -> pd.DataFrame:
    from ltvkit.prediction import Prediction

    if isinstance(pred, pd.DataFrame):
        df = pred.copy()
        if y is not None:
            df["y_true"] = np.asarray(y, dtype=np.float64)
        if "y_true" not in df:
            raise D.ReportDataError("y_true: the predictions frame has no y_true column; "
                                    "pass y")
        return df
    if y is None:
        raise D.ReportDataError("y: the true values are needed beside the predictions")
    if isinstance(pred, Prediction):
        return pred.to_frame(None, y_true=np.asarray(y, dtype=np.float64))
    y_arr, p_arr = D._arrays(y, pred)
    return pd.DataFrame({"y_true": y_arr, "y_pred": p_arr})


def as_frames(pred: Any, y: Any = None) -> dict[str, pd.DataFrame]:
    """``{model: predictions frame}`` from any accepted prediction input."""
    if isinstance(pred, Mapping):
        return {str(k): _frame(v, y) for k, v in pred.items()}
    return {"model": _frame(pred, y)}


def _layout(fig: go.Figure, title: str, x: str, y: str, note: str = "") -> go.Figure:
    text = title if not note else f"{title}<br><sup>{note}</sup>"
    fig.update_layout(title=text, xaxis_title=x, yaxis_title=y, template=TEMPLATE,
                      legend={"orientation": "h", "y": -0.2}, margin={"t": 70, "b": 40},
                      height=440)
    return fig


def gain_figure(df: pd.DataFrame) -> go.Figure:
    """Draw :func:`~ltvkit.report.data.gain_data` frames (one or more models, concatenated)."""
    fig = go.Figure()
    first = df[df["model"] == df["model"].iloc[0]]
    fig.add_trace(go.Scatter(x=first["share_customers"], y=first["oracle"], name="oracle",
                             line={"color": "black", "dash": "dot"},
                             hovertemplate="top %{x:.1%}: %{y:.1%} of the value<extra>oracle"
                                           "</extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="random", mode="lines",
                             line={"color": "grey", "dash": "dash"}, hoverinfo="skip"))
    for i, (model, part) in enumerate(df.groupby("model", sort=False)):
        gini = part["normalized_gini"].iloc[0]
        fig.add_trace(go.Scatter(
            x=part["share_customers"], y=part["gain"], name=f"{model} (Gini {gini:.3f})",
            line={"color": _color(i)},
            hovertemplate=f"top %{{x:.1%}}: %{{y:.1%}} of the value<extra>{model}</extra>"))
    n = int(df["n"].iloc[0])
    drawn = int((df["model"] == df["model"].iloc[0]).sum()) - 1
    note = f"{n:,} test customers; each curve drawn through {min(drawn, n):,} ranks"
    fig = _layout(fig, "Gain curve: share of true value captured by predicted rank",
                  "share of customers (ranked by prediction)", "share of true value", note)
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(tickformat=".0%")
    return fig


def plot_gain(pred: Any, y: Any = None, max_points: int = D.GAIN_POINTS) -> go.Figure:
    """Gain curve (share of the true value captured vs share of customers by predicted rank)
    of each model, with the oracle and random lines and the normalized Gini in the legend."""
    frames = as_frames(pred, y)
    return gain_figure(pd.concat([D.gain_data(f["y_true"], f["y_pred"], m, max_points)
                                  for m, f in frames.items()], ignore_index=True))


def _model_menu(fig: go.Figure, models: list[str], per_model: int) -> None:
    """A drop-down that shows one model's traces at a time (the first model to start)."""
    if len(models) < 2:
        return
    n = len(models) * per_model
    buttons = []
    for i, m in enumerate(models):
        visible = [i * per_model <= k < (i + 1) * per_model for k in range(n)]
        buttons.append({"label": m, "method": "update", "args": [{"visible": visible}]})
    for k, trace in enumerate(fig.data):
        trace.visible = k < per_model
    fig.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right",
                                    "y": 1.15, "yanchor": "top"}])


def decile_figure(df: pd.DataFrame) -> go.Figure:
    """Draw :func:`~ltvkit.report.data.decile_data` frames: bars of mean actual and mean
    predicted per decile of the prediction, one model at a time (drop-down)."""
    fig = go.Figure()
    models = list(dict.fromkeys(df["model"]))
    for m in models:
        part = df[df["model"] == m]
        fig.add_trace(go.Bar(x=part["bin"], y=part["label_mean"], name=f"{m}: mean actual",
                             marker_color="#444", customdata=part["count"],
                             hovertemplate="decile %{x}: actual %{y:.2f} "
                                           "(%{customdata} customers)<extra></extra>"))
        fig.add_trace(go.Bar(x=part["bin"], y=part["pred_mean"], name=f"{m}: mean predicted",
                             marker_color=_color(models.index(m)),
                             hovertemplate="decile %{x}: predicted %{y:.2f}<extra></extra>"))
    _model_menu(fig, models, 2)
    fig.update_layout(barmode="group")
    fig.update_xaxes(dtick=1)
    return _layout(fig, "Decile chart: mean predicted vs mean actual per predicted decile",
                   "decile of the prediction (1 = lowest)", "mean value per customer")


def plot_deciles(pred: Any, y: Any = None, n_bins: int = 10) -> go.Figure:
    """Mean predicted vs mean actual value per equal-count bin of the prediction."""
    frames = as_frames(pred, y)
    return decile_figure(pd.concat([D.decile_data(f["y_true"], f["y_pred"], m, n_bins)
                                    for m, f in frames.items()], ignore_index=True))


def calibration_figure(df: pd.DataFrame) -> go.Figure:
    """Draw :func:`~ltvkit.report.data.calibration_data` frames on log axes with the diagonal;
    bins whose mean actual or mean predicted is 0 cannot be placed on a log axis and are
    counted in the subtitle."""
    fig = go.Figure()
    ok = (df["label_mean"] > 0) & (df["pred_mean"] > 0)
    shown = df[ok]
    if len(shown):
        lo = float(min(shown["label_mean"].min(), shown["pred_mean"].min()))
        hi = float(max(shown["label_mean"].max(), shown["pred_mean"].max()))
        fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfect",
                                 line={"color": "grey", "dash": "dash"}, hoverinfo="skip"))
    for i, m in enumerate(dict.fromkeys(df["model"])):
        part = shown[shown["model"] == m]
        fig.add_trace(go.Scatter(
            x=part["pred_mean"], y=part["label_mean"], mode="lines+markers", name=m,
            line={"color": _color(i)}, customdata=np.c_[part["bin"], part["count"]],
            hovertemplate="bin %{customdata[0]} (%{customdata[1]} customers): predicted "
                          f"%{{x:.2f}}, actual %{{y:.2f}}<extra>{m}</extra>"))
    n_bins = int(df.groupby("model").size().max())
    note = f"{n_bins} equal-count bins of each model's prediction"
    if (~ok).any():
        note += f"; {int((~ok).sum())} bins with a zero mean left off the log axes"
    fig = _layout(fig, "Calibration: binned mean predicted vs mean actual",
                  "mean predicted (log)", "mean actual (log)", note)
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig


def plot_calibration(pred: Any, y: Any = None, n_bins: int = 20) -> go.Figure:
    """Binned calibration (mean predicted vs mean actual per equal-count bin) on log axes."""
    frames = as_frames(pred, y)
    return calibration_figure(pd.concat(
        [D.calibration_data(f["y_true"], f["y_pred"], m, n_bins) for m, f in frames.items()],
        ignore_index=True))


def coverage_figure(df: pd.DataFrame, nominal: float = 0.8) -> go.Figure:
    """Draw :func:`~ltvkit.report.data.coverage_data` frames with the nominal coverage line."""
    fig = go.Figure()
    for i, m in enumerate(dict.fromkeys(df["model"])):
        part = df[df["model"] == m]
        fig.add_trace(go.Scatter(x=part["bin"], y=part["coverage"], mode="lines+markers",
                                 name=m, line={"color": _color(i)}, customdata=part["count"],
                                 hovertemplate="decile %{x}: %{y:.1%} covered "
                                               f"(%{{customdata}} customers)<extra>{m}</extra>"))
    fig.add_hline(y=nominal, line_dash="dash", line_color="grey",
                  annotation_text=f"nominal {nominal:.0%}")
    fig = _layout(fig, "Interval coverage per predicted decile (10-90 % interval)",
                  "decile of the prediction (1 = lowest)", "share of actuals inside")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    fig.update_xaxes(dtick=1)
    return fig


def plot_coverage(pred: Any, y: Any = None, n_bins: int = 10) -> go.Figure:
    """Share of actual values inside the predicted 10-90 % interval, per predicted decile
    (models whose predictions have ``q10`` and ``q90``)."""
    frames = {m: f for m, f in as_frames(pred, y).items() if {"q10", "q90"} <= set(f)}
    if not frames:
        raise D.ReportDataError("q10, q90: no model predicts a 10-90 % interval")
    return coverage_figure(pd.concat(
        [D.coverage_data(f["y_true"], f["q10"], f["q90"], f["y_pred"], m, n_bins)
         for m, f in frames.items()], ignore_index=True))


def zero_share_figure(df: pd.DataFrame) -> go.Figure:
    """Draw :func:`~ltvkit.report.data.zero_share_data`: observed vs predicted zero share."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=df["model"], y=df["observed"], name="observed", marker_color="#444",
                         hovertemplate="%{x}: %{y:.1%} of test customers spend 0"
                                       "<extra>observed</extra>"))
    fig.add_trace(go.Bar(x=df["model"], y=df["predicted"], name="predicted",
                         marker_color=COLORS[0], customdata=df["predicted_as"],
                         hovertemplate="%{x}: %{y:.1%} (%{customdata})<extra>predicted</extra>"))
    fig.update_layout(barmode="group")
    fig = _layout(fig, "Share of customers with zero value: predicted vs observed", "model",
                  "share of test customers",
                  "predicted = 1 - mean P(active) where the model predicts it, else the share "
                  "of point predictions at 0")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return fig


def plot_zero_share(pred: Any, y: Any = None) -> go.Figure:
    """Predicted vs observed share of customers who spend nothing, per model."""
    from ltvkit.metrics import ZERO_EPS

    frames = as_frames(pred, y)
    observed = {m: float((f["y_true"] <= ZERO_EPS).mean()) for m, f in frames.items()}
    return zero_share_figure(D.zero_share_data(frames, observed))


def waterfall_figure(df: pd.DataFrame, value: str, title: str) -> go.Figure:
    """Draw a waterfall frame (``step``, ``measure``, ``value`` column)."""
    fig = go.Figure(go.Waterfall(
        x=df["step"], y=df[value], measure=df["measure"], textposition="outside",
        text=[f"{v:,}" for v in df[value]], connector={"line": {"color": "#999"}},
        decreasing={"marker": {"color": "#EF553B"}}, totals={"marker": {"color": "#00CC96"}},
        increasing={"marker": {"color": "#636EFA"}},
        hovertemplate="%{x}: %{y:,}<extra></extra>"))
    fig = _layout(fig, title, "", value)
    fig.update_layout(showlegend=False)
    return fig


def plot_quality_waterfall(quality: Any) -> go.Figure:
    """The data-quality report (a :class:`~ltvkit.data.quality.DataQualityReport` or its
    dict) as a waterfall: rows read, each cleaning rule's dropped rows, rows kept."""
    q = quality.to_dict() if hasattr(quality, "to_dict") else quality
    return waterfall_figure(D.waterfall_data(q), "rows",
                            "Data quality: rows read, dropped by each cleaning rule, kept")


def plot_scope(customers_in_log: int, customers_in_scope: int) -> go.Figure:
    """Customers of the cleaned log, out of the task's cohort, in scope."""
    return waterfall_figure(D.scope_data(customers_in_log, customers_in_scope), "customers",
                            "Customers: in the log, outside the cohort, in scope")


def sparsity_figure(df: pd.DataFrame, metric: str, label: str) -> go.Figure:
    """Draw :func:`~ltvkit.report.data.sparsity_data` for one metric: mean ± std vs level."""
    fig = go.Figure()
    part_all = df[df["metric"] == metric]
    for i, (m, part) in enumerate(part_all.groupby("model", sort=False)):
        part = part.sort_values("sparsity")
        fig.add_trace(go.Scatter(x=part["sparsity"], y=part["mean"], mode="lines+markers",
                                 name=m, error_y={"type": "data", "array": part["std"]},
                                 line={"color": _color(i)},
                                 hovertemplate=f"P=%{{x}}%: {label} %{{y:.3f}}<extra>{m}"
                                               "</extra>"))
    return _layout(fig, f"{label} vs sparsity level (mean ± std over seeds)",
                   "sparsity: share of customers without target-domain history (%)", label)


def plot_sparsity(records: list[dict[str, Any]], metric: str = "nmae") -> go.Figure:
    """A metric against the sparsity level of a cross-domain benchmark's records."""
    from ltvkit.evaluation.leaderboard import label, summarize

    df = D.sparsity_data(summarize(records), [metric])
    if df.empty:
        raise D.ReportDataError(f"records: no model has {metric} at any sparsity level")
    return sparsity_figure(df, metric, label(metric))


def sparse_split_figure(df: pd.DataFrame, label: str) -> go.Figure:
    """Draw sparse vs non-sparse customers' metric (``model``, ``sparsity``, ``group``,
    ``mean``, ``std``) as grouped bars."""
    fig = go.Figure()
    for i, (group, part) in enumerate(df.groupby("group", sort=False)):
        x = [f"{m} P={p}%" for m, p in zip(part["model"], part["sparsity"], strict=True)]
        fig.add_trace(go.Bar(x=x, y=part["mean"], name=group, marker_color=_color(i),
                             error_y={"type": "data", "array": part["std"]},
                             hovertemplate=f"%{{x}}: {label} %{{y:.3f}}<extra>{group}</extra>"))
    fig.update_layout(barmode="group")
    return _layout(fig, f"{label}: sparse vs non-sparse customers", "model and sparsity level",
                   label)


def plot_sparse_split(records: list[dict[str, Any]], metric: str = "nmae") -> go.Figure:
    """Sparse (no target history) vs non-sparse customers' metric per model and level."""
    from ltvkit.evaluation.leaderboard import label, summarize

    parts = []
    for key, group in (("metrics_sparse", "sparse (C_na)"),
                       ("metrics_non_sparse", "non-sparse (C_a)")):
        df = D.sparsity_data([r for r in summarize(records, key) if r["n_seeds"]], [metric])
        df["group"] = group
        parts.append(df)
    df = pd.concat(parts, ignore_index=True)
    if df.empty:
        raise D.ReportDataError("records: no sparse / non-sparse breakdown (not a sparsity run)")
    return sparse_split_figure(df, label(metric))


def matrix_figure(df: pd.DataFrame, title: str, value: str) -> go.Figure:
    """Draw a :func:`~ltvkit.report.data.btyd_matrix_data` frame as a heat map."""
    x = np.unique(df["recency_weeks"])
    y = np.unique(df["frequency"])
    z = df.pivot(index="frequency", columns="recency_weeks", values="value").loc[y, x]
    fig = go.Figure(go.Heatmap(
        x=x, y=y, z=z.to_numpy(), colorscale="Viridis", colorbar={"title": value},
        hovertemplate="frequency %{y:.0f}, recency %{x:.1f} wk: %{z:.3f}<extra></extra>"))
    t = float(df["T_weeks"].iloc[0])
    return _layout(fig, title, "recency: weeks from first to last purchase",
                   "frequency: repeat purchases", f"customer age T = {t:.1f} weeks")


def _btyd_grid(model: Any, max_frequency: int | None, T: float | None
               ) -> tuple[Any, Any, int, float]:
    params = getattr(model, "purchase_params_", model)
    module = getattr(model, "purchase_module", None)
    if module is None:
        from ltvkit.btyd import bgnbd as module
    return params, module, 20 if max_frequency is None else int(max_frequency), \
        52.0 if T is None else float(T)


def plot_alive_matrix(model: Any, max_frequency: int | None = None, T: float | None = None
                      ) -> go.Figure:
    """P(alive) over (frequency, recency) at customer age ``T`` weeks (lifetimes'
    ``plot_probability_alive_matrix``); ``model`` is a fitted ``bgnbd`` / ``pareto_nbd``
    model or BG/NBD parameters."""
    params, module, fmax, t = _btyd_grid(model, max_frequency, T)
    df = D.btyd_matrix_data(lambda x, tx, TT: module.p_alive(params, x, tx, TT), fmax, t, t)
    return matrix_figure(df, "Probability a customer is alive, by frequency and recency",
                         "P(alive)")


def plot_expected_matrix(model: Any, t: float, max_frequency: int | None = None,
                         T: float | None = None) -> go.Figure:
    """Expected purchases in the next ``t`` weeks over (frequency, recency) at age ``T``
    (lifetimes' ``plot_frequency_recency_matrix``)."""
    params, module, fmax, age = _btyd_grid(model, max_frequency, T)
    df = D.btyd_matrix_data(
        lambda x, tx, TT: module.expected_purchases(params, t, x, tx, TT), fmax, age, age)
    return matrix_figure(df, f"Expected purchases in the next {t:.0f} weeks, by frequency and "
                             "recency", "purchases")


def tracking_figure(df: pd.DataFrame, calibration_end: Any | None = None) -> go.Figure:
    """Draw a tracking frame (``date``, ``actual``, ``expected`` cumulative repeat purchases)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=df["date"], y=df["actual"], name="actual", mode="lines",
                             line={"color": "#444"},
                             hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f}<extra>actual</extra>"))
    fig.add_trace(go.Scatter(x=df["date"], y=df["expected"], name="expected (model)",
                             mode="lines", line={"color": COLORS[1], "dash": "dash"},
                             hovertemplate="%{x|%Y-%m-%d}: %{y:,.0f}<extra>expected</extra>"))
    if calibration_end is not None:
        fig.add_vline(x=pd.Timestamp(calibration_end).timestamp() * 1000, line_dash="dot",
                      line_color="grey", annotation_text="end of calibration")
    return _layout(fig, "Tracking: cumulative repeat purchases of the cohort, expected vs actual",
                   "date", "cumulative repeat purchases")


def plot_tracking(tracking: pd.DataFrame, calibration_end: Any | None = None) -> go.Figure:
    """The tracking plot of Fader, Hardie & Lee (2005): a frame from
    :func:`ltvkit.report.btyd.tracking_data`."""
    return tracking_figure(tracking, calibration_end)


def holdout_figure(df: pd.DataFrame, horizon: str) -> go.Figure:
    """Draw a calibration-vs-holdout frame (``frequency``, ``actual``, ``expected``, ``count``)."""
    fig = go.Figure()
    for col, color in (("actual", "#444"), ("expected", COLORS[1])):
        fig.add_trace(go.Scatter(x=df["frequency_label"], y=df[col], name=col,
                                 mode="lines+markers", line={"color": color},
                                 customdata=df["count"],
                                 hovertemplate="frequency %{x}: %{y:.2f} "
                                               f"(%{{customdata}} customers)<extra>{col}</extra>"))
    return _layout(fig, f"Calibration vs holdout: mean purchases in the {horizon} horizon by "
                        "calibration frequency", "repeat purchases in calibration",
                   "mean purchases in the horizon", "test customers")


def plot_holdout(holdout: pd.DataFrame, horizon: str) -> go.Figure:
    """Mean actual vs expected holdout purchases per calibration frequency: a frame from
    :func:`ltvkit.report.btyd.holdout_data`."""
    return holdout_figure(holdout, horizon)


# ------------------------------------------------------------------------------------------
# decisions: value by segment, targeting ROI, SHAP importance
# ------------------------------------------------------------------------------------------


def plot_value_by_segment(table: pd.DataFrame) -> go.Figure:
    """Total predicted (and, with a ``realised_total`` column, realised) value per segment
    from a :func:`ltvkit.scoring.segment_table` frame."""
    for col in ("segment", "customers", "predicted_total"):
        if col not in table.columns:
            raise D.ReportDataError(f"segment table: missing column '{col}'")
    if not len(table):
        raise D.ReportDataError("segment table: has no rows")
    x = table["segment"].astype(str)
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=table["predicted_total"], name="predicted",
                         marker_color=COLORS[0],
                         customdata=np.c_[table["customers"], table["predicted_mean"]]
                         if "predicted_mean" in table else table[["customers"]].to_numpy(),
                         hovertemplate="%{x}: predicted total %{y:,.0f} (%{customdata[0]:,} "
                                       "customers)<extra>predicted</extra>"))
    if "realised_total" in table.columns:
        fig.add_trace(go.Bar(x=x, y=table["realised_total"], name="realised",
                             marker_color="#444",
                             hovertemplate="%{x}: realised total %{y:,.0f}"
                                           "<extra>realised</extra>"))
    fig.update_layout(barmode="group")
    n = int(table["customers"].sum())
    return _layout(fig, "Value by segment: total predicted vs realised value", "segment",
                   "total value", f"{n:,} scored customers")


def plot_targeting_roi(curve: pd.DataFrame, x: str = "contacts") -> go.Figure:
    """The expected (and, when present, realised) revenue of contacting the top of the ranking
    against ``x`` (``contacts`` or ``spend``), with the spend line and the ROI on hover; a
    :attr:`ltvkit.scoring.TargetResult.curve` frame (``targets.curve.csv``)."""
    need = {x, "spend", "expected_revenue", "expected_roi"}
    missing = sorted(need - set(curve.columns))
    if missing:
        raise D.ReportDataError(f"targeting curve: missing column(s) {missing}")
    if not len(curve):
        raise D.ReportDataError("targeting curve: has no rows")
    fig = go.Figure()
    share = curve["share"] if "share" in curve else np.full(len(curve), np.nan)
    lines = [("expected", COLORS[0])]
    if "realised_revenue" in curve.columns:
        lines.append(("realised", "#444"))
    for kind, color in lines:
        fig.add_trace(go.Scatter(
            x=curve[x], y=curve[f"{kind}_revenue"], mode="lines", name=f"{kind} revenue",
            line={"color": color},
            customdata=np.c_[curve[f"{kind}_roi"], curve["spend"], share],
            hovertemplate="%{x:,} (%{customdata[2]:.1%}): revenue %{y:,.0f}, spend "
                          f"%{{customdata[1]:,.0f}}, ROI %{{customdata[0]:.2f}}<extra>{kind}"
                          "</extra>"))
    fig.add_trace(go.Scatter(x=curve[x], y=curve["spend"], mode="lines", name="spend",
                             line={"color": "grey", "dash": "dash"},
                             hovertemplate="%{x:,}: spend %{y:,.0f}<extra></extra>"))
    return _layout(fig, "Targeting: revenue vs contacts, top of the predicted ranking first",
                   "customers contacted" if x == "contacts" else "spend",
                   "revenue (margin x value)", "ROI = (revenue - spend) / spend, on hover")


def plot_shap_importance(importance: pd.DataFrame, top: int = 15) -> go.Figure:
    """Mean |SHAP| of the ``top`` most important inputs, largest on top; a
    :func:`ltvkit.explain.global_importance` frame (``feature``, ``mean_abs_shap``)."""
    for col in ("feature", "mean_abs_shap"):
        if col not in importance.columns:
            raise D.ReportDataError(f"SHAP importance: missing column '{col}'")
    if not len(importance):
        raise D.ReportDataError("SHAP importance: has no rows")
    df = importance.sort_values("mean_abs_shap", ascending=False).head(top)
    share = df["share"] if "share" in df else np.full(len(df), np.nan)
    fig = go.Figure(go.Bar(x=df["mean_abs_shap"][::-1], y=df["feature"][::-1].astype(str),
                           orientation="h", marker_color=COLORS[2], customdata=share[::-1],
                           hovertemplate="%{y}: mean |SHAP| %{x:.4f} (%{customdata:.1%} of "
                                         "the total)<extra></extra>"))
    fig = _layout(fig, f"SHAP global importance: the {len(df)} inputs with the largest mean "
                  "|SHAP|", "mean |SHAP|", "")
    fig.update_layout(showlegend=False, margin={"l": 180, "t": 70, "b": 40})
    return fig
