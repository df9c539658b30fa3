"""Benchmark ltvkit's BG/NBD and Pareto/NBD fits against ``lifetimes`` on the full CDNOW log.

Run from the repository root::

    python benchmarks/bench_btyd.py [--data-dir ../shared/datasets] [--json out.json]

What it does
------------
1. Reads ``cdnow/CDNOW_master.txt`` (customer_id, date YYYYMMDD, number_of_cds, dollar_value;
   23,570 customers) and builds the calibration summary with
   ``lifetimes.utils.summary_data_from_transaction_data`` for 1997-01-01 .. 1997-09-30 with
   ``freq="D"`` (days: lifetimes' default, and the finest grid, so the fewest duplicate rows for
   ltvkit's row compression to exploit).
2. Fits ``lifetimes.BetaGeoFitter`` and ``lifetimes.ParetoNBDFitter`` with their defaults and
   ``ltvkit.btyd.bgnbd.fit`` / ``ltvkit.btyd.pareto_nbd.fit`` on the same summary in the same
   process, each the best (minimum) wall time of ``--repeats`` runs. lifetimes' Pareto/NBD starts
   Nelder-Mead from random parameters, so ``np.random`` is seeded before every one of its fits.
   The time of ``fit`` is all that is measured (input checks and row compression included for
   ltvkit; the Hessian for standard errors included for lifetimes' BG/NBD, which computes it in
   ``fit``).
3. Prints model, lifetimes seconds, ltvkit seconds, speed ratio, the largest relative difference
   between the two parameter sets, ltvkit's negative log-likelihood and how much higher
   lifetimes' is (both with ltvkit's formula, data in days; positive means lifetimes stopped
   short of the maximum), so that a parameter difference can be attributed.

4. The same for MBG/NBD (``lifetimes.ModifiedBetaGeoFitter``) on the daily summary, and for BG/BB
   (``lifetimes.BetaGeoBetaBinomFitter``) on two discrete-time logs: CDNOW with one purchase
   opportunity per week (``summary_data_from_transaction_data(..., freq="W")``: frequency =
   weeks with a purchase after the first, n = weeks observed) and the donation table of Fader,
   Hardie & Shang (2010) that lifetimes ships (``datasets/donations.csv``, 22 weighted rows).
5. The parametric bootstrap of BG/NBD on full CDNOW (weeks): Hessian covariance,
   1,000 parameter replicates and 1,000 posterior-predictive draws per customer (one replicate
   each) of the 39-week spend with Gamma-Gamma spend, reduced to the 0.1/0.5/0.9 quantiles;
   timed once, end to end.

Targets: BG/NBD, MBG/NBD and BG/BB at least 5x and Pareto/NBD at least 10x faster than
lifetimes, parameters equal to 1e-3 relative, the 1,000-replicate bootstrap under 30 s;
``--check`` makes the exit code non-zero when one is missed.

lifetimes 0.11.3 imports fine on numpy 2.4 / scipy 1.17 / pandas 3.1; for older or newer stacks
where it does not (``scipy.misc.logsumexp``, ``np.float`` and friends were removed), the names it
needs are put back before a second import attempt, inside this script only (see
``_import_lifetimes``). ``lifetimes`` and ``psutil`` are benchmark-only dependencies
(``pip install lifetimes psutil``, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from ltvkit.btyd import bgbb, bgnbd, mbgnbd, pareto_nbd, predictive, uncertainty  # noqa: E402

DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "datasets"
CALIBRATION_START = "1997-01-01"
CALIBRATION_END = "1997-09-30"
FREQ = "D"
TARGET_SPEEDUP = {"BG/NBD": 5.0, "Pareto/NBD": 10.0, "MBG/NBD": 5.0, "BG/BB weekly": 5.0,
                  "BG/BB donations": 5.0}
TARGET_BOOTSTRAP_SECONDS = 30.0
N_REPLICATES = 1000
TARGET_REL_DIFF = 1e-3


def _import_lifetimes() -> Any:
    """Import lifetimes, restoring names removed from numpy/scipy if the first attempt fails."""
    try:
        return importlib.import_module("lifetimes")
    except (ImportError, AttributeError):
        import scipy.misc
        import scipy.special

        # lifetimes < 0.11 imports logsumexp from scipy.misc (moved to scipy.special in 1.0)
        if not hasattr(scipy.misc, "logsumexp"):
            scipy.misc.logsumexp = scipy.special.logsumexp
        # numpy 1.24 removed the deprecated aliases of builtin types that old code still uses
        for name, value in (("float", float), ("int", int), ("bool", bool), ("object", object)):
            if name not in np.__dict__:
                setattr(np, name, value)
        for mod in [m for m in sys.modules if m.startswith("lifetimes")]:
            del sys.modules[mod]
        return importlib.import_module("lifetimes")


def load_cdnow(data_dir: Path) -> pd.DataFrame:
    """Read CDNOW_master.txt (with or without its header line) into a transaction frame."""
    path = data_dir / "cdnow" / "CDNOW_master.txt"
    if not path.exists():
        raise SystemExit(f"CDNOW log not found at {path}; pass --data-dir")
    with path.open() as fh:
        first = fh.readline().split()
    has_header = not first[0].isdigit()
    tx = pd.read_csv(path, sep=r"\s+", header=None, skiprows=1 if has_header else 0,
                     names=["customer_id", "date", "number_of_cds", "dollar_value"],
                     dtype={"customer_id": str, "date": str})
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


def best_time(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Minimum wall time of ``repeats`` calls and the result of the last call."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"folder holding cdnow/ (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per fit (best kept)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 if a speed or accuracy target is missed")
    args = parser.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # lifetimes' autograd overflow
    lifetimes = _import_lifetimes()
    from lifetimes.utils import summary_data_from_transaction_data

    tx = load_cdnow(args.data_dir)
    tx = tx[tx["date"] >= pd.Timestamp(CALIBRATION_START)]
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "date", observation_period_end=CALIBRATION_END, freq=FREQ)
    x = summary["frequency"].to_numpy(dtype=float)
    t_x = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    n_unique = len(summary[["frequency", "recency", "T"]].drop_duplicates())
    print(f"CDNOW calibration {CALIBRATION_START}..{CALIBRATION_END}, freq={FREQ!r}: "
          f"{len(summary)} customers, {n_unique} distinct (x, t_x, T) rows, "
          f"{int((x > 0).sum())} repeat buyers")

    def lt_bgnbd() -> dict[str, float]:
        f = lifetimes.BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
        return {k: float(f.params_[k]) for k in ("r", "alpha", "a", "b")}

    def lt_pareto() -> dict[str, float]:
        np.random.seed(0)
        f = lifetimes.ParetoNBDFitter().fit(summary["frequency"], summary["recency"],
                                            summary["T"])
        return {k: float(f.params_[k]) for k in ("r", "alpha", "s", "beta")}

    def ours(module: Any) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            params, _ = module.fit(x, t_x, T)
            return dataclasses.asdict(params)
        return run

    def lt_mbgnbd() -> dict[str, float]:
        f = lifetimes.ModifiedBetaGeoFitter().fit(summary["frequency"], summary["recency"],
                                                  summary["T"])
        return {k: float(f.params_[k]) for k in ("r", "alpha", "a", "b")}

    weekly = summary_data_from_transaction_data(
        tx, "customer_id", "date", observation_period_end=CALIBRATION_END, freq="W")
    wx, wt, wn = (weekly[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    donations = pd.read_csv(Path(lifetimes.__file__).parent / "datasets" / "donations.csv")
    dx, dt, dn, dw = (donations[c].to_numpy(dtype=float)
                      for c in ("frequency", "recency", "periods", "weights"))

    def lt_bgbb(fx, ft, fn, fw) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            f = lifetimes.BetaGeoBetaBinomFitter().fit(pd.Series(fx), pd.Series(ft),
                                                       pd.Series(fn), weights=fw)
            return {k: float(f.params_[k]) for k in ("alpha", "beta", "gamma", "delta")}
        return run

    def ours_on(module: Any, *data: np.ndarray, **kw: Any) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            params, _ = module.fit(*data, **kw)
            return dataclasses.asdict(params)
        return run

    daily = (x, t_x, T)
    rows = []
    for name, module, params_cls, lt_run, our_run, data, w in (
        ("BG/NBD", bgnbd, bgnbd.BGNBDParams, lt_bgnbd, ours(bgnbd), daily, None),
        ("Pareto/NBD", pareto_nbd, pareto_nbd.ParetoNBDParams, lt_pareto, ours(pareto_nbd),
         daily, None),
        ("MBG/NBD", mbgnbd, mbgnbd.MBGNBDParams, lt_mbgnbd, ours(mbgnbd), daily, None),
        ("BG/BB weekly", bgbb, bgbb.BGBBParams, lt_bgbb(wx, wt, wn, None),
         ours_on(bgbb, wx, wt, wn), (wx, wt, wn), None),
        ("BG/BB donations", bgbb, bgbb.BGBBParams, lt_bgbb(dx, dt, dn, dw),
         ours_on(bgbb, dx, dt, dn, weights=dw), (dx, dt, dn), dw),
    ):
        try:
            lt_seconds, lt_params = best_time(lt_run, args.repeats)
        except Exception as exc:  # lifetimes' ConvergenceError and friends: report, go on
            print(f"{name}: lifetimes failed ({type(exc).__name__}: "
                  f"{str(exc).strip().splitlines()[0]}); row skipped")
            continue
        our_seconds, our_params = best_time(our_run, args.repeats)
        rel = max(abs(our_params[k] - lt_params[k]) / abs(lt_params[k]) for k in our_params)
        wts = np.ones(data[0].size) if w is None else w
        nll_lt = -float(wts @ module.log_likelihood(params_cls(**lt_params), *data))
        nll_ours = -float(wts @ module.log_likelihood(params_cls(**our_params), *data))
        rows.append({
            "model": name,
            "lifetimes_seconds": lt_seconds,
            "ltvkit_seconds": our_seconds,
            "speedup": lt_seconds / our_seconds,
            "max_rel_param_diff": rel,
            "lifetimes_params": lt_params,
            "ltvkit_params": our_params,
            "lifetimes_nll": nll_lt,
            "ltvkit_nll": nll_ours,
            "target_speedup": TARGET_SPEEDUP[name],
            "meets_targets": bool(lt_seconds / our_seconds >= TARGET_SPEEDUP[name]
                                  and rel <= TARGET_REL_DIFF),
        })

    # the parametric bootstrap of BG/NBD on full CDNOW, in weeks
    from ltvkit.btyd import gamma_gamma

    spend_tx = tx[tx["date"] <= pd.Timestamp(CALIBRATION_END)]
    spend_summary = summary_data_from_transaction_data(
        spend_tx, "customer_id", "date", monetary_value_col="dollar_value",
        observation_period_end=CALIBRATION_END, freq=FREQ)
    zbar = spend_summary["monetary_value"].reindex(summary.index).to_numpy(dtype=float)
    xw, tw, Tw = x, t_x / 7.0, T / 7.0
    start = time.perf_counter()
    p_bg, _ = bgnbd.fit(xw, tw, Tw)
    repeat = (xw > 0) & (zbar > 0)
    p_gg, _ = gamma_gamma.fit(xw[repeat], zbar[repeat])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    u_bg = uncertainty.standard_errors(p_bg, xw, tw, Tw)
    u_gg = uncertainty.standard_errors(p_gg, xw[repeat], zbar[repeat])
    bounds, weights = predictive.horizon_grid([39.0], 39.0, 0.0)
    qs = predictive.spend_quantiles(
        bgnbd.BGNBDParams, uncertainty.draw_params(u_bg, N_REPLICATES, seed=0),
        uncertainty.draw_params(u_gg, N_REPLICATES, seed=1), xw, tw, Tw, zbar, repeat,
        bounds, weights, (0.1, 0.5, 0.9), seed=2)
    boot_seconds = time.perf_counter() - start
    # The same draws keyed per customer (what the registered models do, so that a customer's
    # quantiles do not depend on the batch it is scored in): one generator per customer.
    start = time.perf_counter()
    predictive.spend_quantiles(
        bgnbd.BGNBDParams, uncertainty.draw_params(u_bg, N_REPLICATES, seed=0),
        uncertainty.draw_params(u_gg, N_REPLICATES, seed=1), xw, tw, Tw, zbar, repeat,
        bounds, weights, (0.1, 0.5, 0.9), seed=2, keys=np.arange(xw.size))
    keyed_seconds = time.perf_counter() - start
    bootstrap = {"n_customers": int(xw.size), "n_replicates": N_REPLICATES,
                 "fit_seconds": fit_seconds, "bootstrap_seconds": boot_seconds,
                 "keyed_bootstrap_seconds": keyed_seconds,
                 "se_bgnbd": u_bg.as_dict(), "se_gamma_gamma": u_gg.as_dict(),
                 "mean_q10_q50_q90": [float(qs[q].mean()) for q in (0.1, 0.5, 0.9)],
                 "meets_target": bool(boot_seconds < TARGET_BOOTSTRAP_SECONDS)}

    header = (f"{'model':<15} {'lifetimes s':>12} {'ltvkit s':>10} {'speedup':>8} "
              f"{'max rel diff':>13} {'NLL ltvkit':>14} {'NLL lt - ltvkit':>16}  target")
    print(header)
    print("-" * len(header))
    for r in rows:
        verdict = "met" if r["meets_targets"] else "MISSED"
        print(f"{r['model']:<15} {r['lifetimes_seconds']:>12.4f} {r['ltvkit_seconds']:>10.4f} "
              f"{r['speedup']:>7.1f}x {r['max_rel_param_diff']:>13.2e} "
              f"{r['ltvkit_nll']:>14.4f} {r['lifetimes_nll'] - r['ltvkit_nll']:>16.2e}  "
              f">={r['target_speedup']:.0f}x, <=1e-3: {verdict}")
    for r in rows:
        print(f"{r['model']}: lifetimes {r['lifetimes_params']}")
        print(f"{' ' * len(r['model'])}  ltvkit    {r['ltvkit_params']}")

    print(f"BG/NBD parametric bootstrap, full CDNOW in weeks ({bootstrap['n_customers']} "
          f"customers, {N_REPLICATES} replicates x 1 predictive draw per customer each): "
          f"{boot_seconds:.2f} s (fits {fit_seconds:.2f} s), target <{TARGET_BOOTSTRAP_SECONDS:.0f} s: "
          f"{'met' if bootstrap['meets_target'] else 'MISSED'}; standard errors {u_bg.as_dict()}; "
          f"mean 39-week spend quantiles 0.1/0.5/0.9 "
          f"{[round(v, 3) for v in bootstrap['mean_q10_q50_q90']]}; keyed per customer (the "
          f"models' path): {keyed_seconds:.2f} s")

    if args.json is not None:
        env: dict[str, Any] = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pandas": pd.__version__,
            "lifetimes": getattr(lifetimes, "__version__", "?"),
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        }
        try:
            import psutil

            env["rss_mb"] = psutil.Process().memory_info().rss / 2**20
            env["cpu_freq_mhz"] = getattr(psutil.cpu_freq(), "current", None)
        except ImportError:
            pass
        out = {"dataset": "cdnow", "calibration": [CALIBRATION_START, CALIBRATION_END],
               "freq": FREQ, "n_customers": len(summary), "n_unique_rows": n_unique,
               "repeats": args.repeats, "environment": env, "results": rows,
               "bootstrap": bootstrap}
        args.json.write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    if args.check and not (all(r["meets_targets"] for r in rows) and bootstrap["meets_target"]):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
