"""The HTML report of a benchmark run and the plots behind it.

``build_report(run_dir)`` writes ``report.html``: one self-contained file (plotly.js inline,
no request leaves it) with the data-quality waterfall and the task, the sortable leaderboard,
gain curves and deciles, calibration, interval coverage and zero share, the BTYD matrices and
tracking plot, the sparsity charts of cross-domain runs and the decisions outputs when the
run folder has them. The ``plot_*`` functions return plotly figures for notebooks; the report
draws with the same functions.
"""

from __future__ import annotations

from ltvkit.report.build import ReportInputError, ReportResult, build_report
from ltvkit.report.data import ReportDataError
from ltvkit.report.plots import (
    plot_alive_matrix,
    plot_calibration,
    plot_coverage,
    plot_deciles,
    plot_expected_matrix,
    plot_gain,
    plot_holdout,
    plot_quality_waterfall,
    plot_scope,
    plot_shap_importance,
    plot_sparse_split,
    plot_sparsity,
    plot_targeting_roi,
    plot_tracking,
    plot_value_by_segment,
    plot_zero_share,
)

__all__ = [
    "ReportDataError",
    "ReportInputError",
    "ReportResult",
    "build_report",
    "plot_alive_matrix",
    "plot_calibration",
    "plot_coverage",
    "plot_deciles",
    "plot_expected_matrix",
    "plot_gain",
    "plot_holdout",
    "plot_quality_waterfall",
    "plot_scope",
    "plot_shap_importance",
    "plot_sparse_split",
    "plot_sparsity",
    "plot_targeting_roi",
    "plot_tracking",
    "plot_value_by_segment",
    "plot_zero_share",
]
