"""Bad inputs at every entry point: one table of cases, each run through the real ``ltv`` CLI
in a subprocess and (where the library has the same entry point) through the Python API.

A case is (id, CLI arguments, API call, expected outcome, message fragment). The outcome is
``"error"`` (exit code 2, one line on stderr containing the fragment; the API raises an
``LTVError`` whose message contains it) or ``"ok"`` (exit code 0; the fragment appears in the
output or in the written ``quality.json``, and the API result contains it). Nothing may end in
a traceback or a crash of a native library.

The inputs are small generated logs (edge cases need exact control of every cell) and models
trained on them; CDNOW-size and real-data behaviour is covered by the other test modules.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ltvkit.errors import LTVError

CUTOFF = "2021-08-31"


def ltv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ltvkit.cli", *args], capture_output=True,
                          text=True, encoding="utf-8", errors="replace", check=False, env=env,
                          timeout=300)


def generated_log(n_rows: int = 2000, n_customers: int = 150, seed: int = 0) -> pd.DataFrame:
    """A clean log: integer customer ids, ISO timestamps over 2021, positive amounts."""
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365 * 24, n_rows), "h")
    return pd.DataFrame({
        "customer_id": rng.integers(1, n_customers + 1, n_rows),
        "timestamp": ts.strftime("%Y-%m-%d %H:%M:%S"),
        "amount": np.round(rng.gamma(2.0, 15.0, n_rows) + 0.5, 2),
        "quantity": rng.integers(1, 4, n_rows).astype(str),
    })


def write_csv(frame: pd.DataFrame, path: Path, **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, **kwargs)
    return path


class World:
    """The files every case reads, built once per module."""

    def __init__(self, root: Path):
        from ltvkit.data import (
            CleaningRules,
            ColumnMapping,
            LTVTask,
            build_dataset,
            read_transactions,
        )
        from ltvkit.models import create_model

        self.root = root
        base = generated_log()
        self.good = write_csv(base, root / "good.csv")
        log = read_transactions(self.good, ColumnMapping(), CleaningRules())
        self.ds = root / "ds"
        self.data = build_dataset(log, LTVTask(cutoff=CUTOFF, horizons=("30D", "90D"),
                                               period="M", n_periods=6))
        self.data.save(self.ds)
        other = build_dataset(log, LTVTask(cutoff=CUTOFF, horizons=("60D",), period="M",
                                           n_periods=6))
        self.ds_other_horizon = root / "ds_60D"
        other.save(self.ds_other_horizon)
        longer = build_dataset(log, LTVTask(cutoff=CUTOFF, horizons=("30D", "90D"),
                                            period="M", n_periods=8))
        self.ds_longer = root / "ds_8_periods"
        longer.save(self.ds_longer)
        lgbm = create_model("lgbm", n_estimators=5, min_child_samples=5, n_threads=1)
        lgbm.fit(self.data)
        self.lgbm = root / "lgbm"
        lgbm.save(self.lgbm)
        gru = create_model("gru", **create_model("gru").test_params()[0])
        gru.fit(self.data)
        self.gru = root / "gru"
        gru.save(self.gru)
        self.base = base

    # -------------------------------------------------------------- file builders
    def csv(self, name: str, frame: pd.DataFrame, **kwargs: Any) -> Path:
        return write_csv(frame, self.root / "cases" / name, **kwargs)

    def big_with_bad_cell(self, name: str, column: str, value: str) -> Path:
        """200,000 rows, the bad cell in row 199,999 (far past any sniffing sample)."""
        frame = generated_log(n_rows=200_000, n_customers=3000, seed=1)
        frame[column] = frame[column].astype(object)
        frame.loc[199_998, column] = value
        return self.csv(name, frame)

    def model_copy(self, name: str, source: Path) -> Path:
        dest = self.root / "cases" / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest)
        return dest

    def truncated(self, name: str, source: Path, file: str) -> Path:
        dest = self.model_copy(name, source)
        path = dest / file
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return dest

    def edited_config(self, name: str, source: Path, edit: Callable[[dict], Any]) -> Path:
        dest = self.model_copy(name, source)
        config = json.loads((dest / "config.json").read_text())
        new = edit(config)
        (dest / "config.json").write_text(json.dumps(config if new is None else new))
        return dest

    def predictions(self, name: str, frame: pd.DataFrame) -> Path:
        path = self.root / "cases" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        return path

    def out(self, name: str) -> Path:
        return self.root / "out" / name


# ---------------------------------------------------------------------------- API helpers
_PREPARE_FLAGS = {"--customer-col": "customer", "--time-col": "time", "--amount": "amount",
                  "--quantity-col": "quantity", "--time-format": "time_format"}


def api_prepare(args: list[str]) -> str:
    """The library calls ``ltv prepare ARGS`` makes; returns the quality report as JSON."""
    from ltvkit.data import CleaningRules, ColumnMapping, LTVTask, build_dataset, read_transactions

    source, rest = args[0], args[1:]
    mapping, task, cleaning, read_options = {}, {"horizons": "90D", "period": "M",
                                                 "n_periods": 12}, {}, None
    attributes = None
    i = 0
    while i < len(rest):
        flag = rest[i]
        if flag == "--keep-duplicates":
            cleaning["drop_duplicates"] = False
            i += 1
            continue
        value = rest[i + 1]
        i += 2
        if flag in _PREPARE_FLAGS:
            mapping[_PREPARE_FLAGS[flag]] = value
        elif flag == "--encoding":
            read_options = {"encoding": value}
        elif flag == "--attributes":
            attributes = value
        elif flag == "--n-periods":
            task["n_periods"] = int(value)
        elif flag == "--out":
            continue
        else:
            task[flag[2:].replace("-", "_")] = value
    task["horizons"] = tuple(h.strip() for h in task["horizons"].split(",") if h.strip())
    log = read_transactions(source, ColumnMapping(**mapping), CleaningRules(**cleaning),
                            read_options=read_options)
    build_dataset(log, LTVTask(**task), attributes)
    return log.quality.to_json()


def api_train(data: Path, model: str, params: Any) -> str:
    from ltvkit.data import LTVDataset
    from ltvkit.models import create_model

    if not isinstance(params, dict):
        from ltvkit.models import get_model_class

        get_model_class(model).check_params(params)
    create_model(model, **params).fit(LTVDataset.load(data))
    return "fitted"


def api_predict(model: Path, data: Path) -> str:
    from ltvkit.data import LTVDataset
    from ltvkit.models import LTVModel

    return repr(LTVModel.load(model).predict(LTVDataset.load(data)).horizons)


def api_evaluate_equal_labels() -> str:
    from ltvkit.metrics import evaluate

    return json.dumps(evaluate(np.full(50, 5.0), np.arange(50.0)), default=float)


# ---------------------------------------------------------------------------- the table
@dataclass
class Case:
    id: str
    cli: Callable[[World], list[str]]
    api: Callable[[World], str] | None
    outcome: str  # "error" or "ok"
    fragment: str


def prep(build: Callable[[World], Path], *flags: str, out: str = "") -> Callable:
    def args(w: World) -> list[str]:
        src = str(build(w))
        target = str(w.out(out or Path(src).name.replace(".", "_")))
        return ["prepare", src, "--cutoff", CUTOFF, "--period", "M", "--out", target, *flags]
    return args


def prep_api(build: Callable[[World], Path], *flags: str) -> Callable:
    return lambda w: api_prepare([str(build(w)), "--cutoff", CUTOFF, "--period", "M", *flags])


def prepare_case(id: str, build: Callable[[World], Path], flags: tuple[str, ...], outcome: str,
                 fragment: str) -> Case:
    return Case(id, prep(build, *flags, out=id), prep_api(build, *flags), outcome, fragment)


def train_case(id: str, model: str, params: Any, fragment: str) -> Case:
    return Case(id, lambda w: ["train", "--data", str(w.ds), "--model", model, "--out",
                               str(w.out(id)), "--params", json.dumps(params),
                               "--valid-frac", "0"],
                lambda w: api_train(w.ds, model, params), "error", fragment)


def predict_case(id: str, model: Callable[[World], Path], data: Callable[[World], Path],
                 outcome: str, fragment: str) -> Case:
    return Case(id, lambda w: ["predict", "--model", str(model(w)), "--data", str(data(w)),
                               "--out", str(w.out(id) / "p.parquet")],
                lambda w: api_predict(model(w), data(w)), outcome, fragment)


def _latin1(w: World) -> Path:
    frame = w.base.copy()
    frame["customer_id"] = frame["customer_id"].map(lambda c: f"Jos\u00e9-{c}")
    return w.csv("latin1.csv", frame, encoding="latin-1")


def _truncated_gz(w: World) -> Path:
    raw = gzip.compress(w.good.read_bytes())
    path = w.root / "cases" / "truncated.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _corrupt_parquet(w: World) -> Path:
    path = w.root / "cases" / "corrupt.parquet"
    w.base.to_parquet(path, index=False)
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 3 + 200] = b"\x00" * 200
    path.write_bytes(bytes(data[: len(data) - 40]))
    return path


def _empty_folder(w: World) -> Path:
    path = w.root / "cases" / "empty_folder"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _csv_folder(w: World) -> Path:
    path = w.root / "cases" / "csv_folder"
    half = len(w.base) // 2
    write_csv(w.base.iloc[:half], path / "a.csv")
    write_csv(w.base.iloc[half:], path / "b.csv")
    return path


def _apostrophe(w: World) -> Path:
    return w.csv("o'brien's log.csv", w.base)


def _with(w: World, name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    return w.csv(name, edit(w.base.copy()))


def _nan_ids(frame: pd.DataFrame) -> pd.DataFrame:
    frame["customer_id"] = frame["customer_id"].astype(str)
    frame.loc[[0, 1, 2], "customer_id"] = ["NaN", "nan", " "]
    return frame


def _bad_quantities(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[3, 4], "quantity"] = ["two", "?"]
    return frame


def _mixed_offsets(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[:99, "timestamp"] = frame.loc[:99, "timestamp"] + "+02:00"
    return frame


def _duplicated_lines(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[:300]], ignore_index=True)


def _huge_amounts(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[[0, 1], "amount"] = [1e38, 3e38]
    return frame


def _attributes_matching_none(w: World) -> Path:
    ids = [f"X{i}" for i in range(60)]
    return w.csv("attrs_none.csv", pd.DataFrame({"customer_id": ids, "segment": ["a"] * 60}))


def _header_only(w: World) -> Path:
    path = w.root / "cases" / "header_only.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("customer_id,timestamp,amount\n")
    return path


def _per_horizon_predictions(w: World) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    small, big = rng.gamma(1.0, 1.0, n), rng.gamma(1.0, 100.0, n)
    frame = pd.DataFrame({
        "customer_id": [str(i) for i in range(n)] * 2,
        "cutoff": pd.Timestamp(CUTOFF),
        "horizon": ["30D"] * n + ["90D"] * n,
        "y_true": np.concatenate([small, big]),
        "y_pred": np.concatenate([rng.permutation(small), rng.permutation(big)]),
    })
    return w.predictions("two_horizons.parquet", frame)


def _equal_labels(w: World) -> Path:
    frame = pd.DataFrame({"customer_id": [str(i) for i in range(50)], "y_true": 5.0,
                          "y_pred": np.arange(50.0)})
    return w.predictions("equal_labels.parquet", frame)


def _bad_config_value(config: dict) -> None:
    config["horizons"] = 5


def _extra_param(config: dict) -> None:
    config["params"]["not_a_parameter"] = 1


def _bad_param_value(config: dict) -> None:
    config["params"]["num_leaves"] = "abc"


CASES: list[Case] = [
    # ---- crashes and tracebacks
    predict_case("truncated_booster", lambda w: w.truncated("trunc_booster", w.lgbm,
                                                             "booster.txt"),
                 lambda w: w.ds, "error", "damaged"),
    predict_case("truncated_safetensors", lambda w: w.truncated("trunc_st", w.gru,
                                                                 "arrays.safetensors"),
                 lambda w: w.ds, "error", "damaged"),
    prepare_case("late_bad_timestamp", lambda w: w.big_with_bad_cell("late_ts.csv", "timestamp",
                                                                      "31/12/2020"),
                 (), "error", "1 rows have timestamps that cannot be parsed"),
    prepare_case("late_bad_amount", lambda w: w.big_with_bad_cell("late_amount.csv", "amount",
                                                                   "1,234.50"),
                 (), "error", "1 rows have non-numeric amounts"),
    prepare_case("late_text_customer_id", lambda w: w.big_with_bad_cell("late_id.csv",
                                                                         "customer_id", "C-77"),
                 (), "ok", "in_dataset"),
    prepare_case("latin1_without_encoding", _latin1, (), "error", "--encoding"),
    prepare_case("latin1_with_encoding", _latin1, ("--encoding", "latin-1"), "ok", "rows_read"),
    prepare_case("truncated_gzip", _truncated_gz, (), "error", "cannot read"),
    prepare_case("corrupt_parquet", _corrupt_parquet, (), "error", "cannot read"),
    prepare_case("empty_folder", _empty_folder, (), "error", "holds no .parquet or .csv"),
    prepare_case("folder_of_csvs", _csv_folder, (), "ok", '"rows_read": 2000'),
    prepare_case("path_with_apostrophe", _apostrophe, (), "ok", '"rows_read": 2000'),
    prepare_case("huge_horizon", lambda w: w.good, ("--horizons", "200000000D"), "error",
                 "at most 36525"),
    prepare_case("huge_lookback", lambda w: w.good, ("--lookback", "999999999D"), "error",
                 "at most 36525"),
    prepare_case("huge_n_periods", lambda w: w.good, ("--n-periods", "1000000000"), "error",
                 "n_periods must be in [1, 10000]"),
    Case("seeds_not_integers", lambda w: ["benchmark", "--data", str(w.ds), "--models",
                                          "historical_mean", "--seeds", "a", "--out",
                                          str(w.out("seeds"))],
         None, "error", "'a' is not an integer"),
    train_case("unknown_parameter", "lgbm", {"n_estimatorz": 5}, "unknown parameter"),
    train_case("hidden_text", "ziln", {"hidden": "abc"}, "parameter 'hidden' must be"),
    train_case("lr_text", "ziln", {"lr": "fast"}, "parameter 'lr' must be float"),
    train_case("num_leaves_text", "lgbm", {"num_leaves": "abc"},
               "parameter 'num_leaves' must be int"),
    train_case("params_is_a_list", "lgbm", [1, 2], "JSON object"),
    predict_case("config_empty", lambda w: w.edited_config("cfg_empty", w.lgbm, lambda c: {}),
                 lambda w: w.ds, "error", "no 'model' entry"),
    predict_case("config_extra_parameter", lambda w: w.edited_config("cfg_extra", w.lgbm,
                                                                     _extra_param),
                 lambda w: w.ds, "error", "unknown parameter"),
    predict_case("config_bad_param_value", lambda w: w.edited_config("cfg_badparam", w.lgbm,
                                                                     _bad_param_value),
                 lambda w: w.ds, "error", "parameter 'num_leaves' must be int"),
    predict_case("config_bad_entry", lambda w: w.edited_config("cfg_badentry", w.lgbm,
                                                               _bad_config_value),
                 lambda w: w.ds, "error", "'horizons' must be a list"),
    # ---- silently wrong
    Case("evaluate_per_horizon", lambda w: ["evaluate", "--predictions",
                                            str(_per_horizon_predictions(w))],
         None, "ok", "horizon 90D"),
    predict_case("predict_other_horizon", lambda w: w.lgbm, lambda w: w.ds_other_horizon,
                 "error", "same horizons"),
    predict_case("predict_other_sequence_length", lambda w: w.gru, lambda w: w.ds_longer,
                 "error", "same sequence shape"),
    Case("gini_all_labels_equal", lambda w: ["evaluate", "--predictions",
                                             str(_equal_labels(w)), "--json"],
         lambda w: api_evaluate_equal_labels(), "ok", "labels are equal"),
    train_case("hidden_digit_string", "ziln", {"hidden": "16"}, "parameter 'hidden' must be"),
    train_case("max_epochs_zero", "ziln", {"max_epochs": 0}, "max_epochs >= 1"),
    train_case("max_epochs_negative", "ziln", {"max_epochs": -3}, "max_epochs >= 1"),
    train_case("batch_size_zero", "ziln", {"batch_size": 0}, "batch_size >= 1"),
    prepare_case("amount_beyond_float32", lambda w: _with(w, "huge.csv", _huge_amounts), (),
                 "error", "2 rows have amounts of magnitude >= 1e15"),
    Case("cutoff_with_trailing_text", lambda w: ["prepare", str(w.good), "--cutoff",
                                                 "2021-08-31XYZ", "--out", str(w.out("xyz"))],
         lambda w: api_prepare([str(w.good), "--cutoff", "2021-08-31XYZ"]), "error",
         "not a date"),
    prepare_case("duplicate_horizons", lambda w: w.good, ("--horizons", "90D,90D"), "error",
                 "repeated horizon"),
    Case("benchmark_every_model_failed",
         lambda w: ["benchmark", "--data", str(w.ds), "--models", "lgbm", "--seeds", "0",
                    "--params", json.dumps({"lgbm": {"objective": "nope"}}),
                    "--out", str(w.out("bench_fail"))],
         None, "error", "every model failed"),
    Case("benchmark_bracketed_spec",
         lambda w: ["benchmark", "--data", str(w.ds), "--models",
                    "lgbm[n_estimators=5,min_child_samples=5]", "--seeds", "0",
                    "--out", str(w.out("bench_spec"))],
         None, "ok", "lgbm[n_estimators=5,min_child_samples=5]"),
    # ---- losses nobody counted
    prepare_case("nan_text_customer_ids", lambda w: _with(w, "nan_ids.csv", _nan_ids), (),
                 "ok", '"missing_customer_id": 3'),
    prepare_case("non_numeric_quantities", lambda w: _with(w, "bad_qty.csv", _bad_quantities),
                 ("--quantity-col", "quantity"), "ok", '"non_numeric_quantity_set_missing": 2'),
    prepare_case("attributes_matching_nobody", lambda w: w.good,
                 ("--attributes", "ATTRS"), "ok", "only 0 of"),
    prepare_case("customers_in_and_out_of_scope", lambda w: w.good, (), "ok",
                 "out_of_scope_first_seen_after_cutoff"),
    prepare_case("mixed_naive_and_aware_timestamps", lambda w: _with(w, "mixed.csv",
                                                                     _mixed_offsets),
                 (), "ok", "100 timestamps have a UTC offset and 1900 have none"),
    prepare_case("duplicates_above_five_percent", lambda w: _with(w, "dups.csv",
                                                                  _duplicated_lines),
                 (), "ok", "--keep-duplicates"),
    # ---- what already worked (kept working)
    prepare_case("missing_file", lambda w: w.root / "nope.csv", (), "error", "not found"),
    prepare_case("missing_column", lambda w: w.good, ("--customer-col", "Client"), "error",
                 "missing column 'Client'"),
    prepare_case("header_only_csv", _header_only, (), "error", "no rows"),
    prepare_case("unparseable_amount_expression", lambda w: w.good, ("--amount", "amount +* 2"),
                 "error", "bad SQL expression"),
    train_case("unknown_model", "no_such_model", {}, "unknown model"),
    predict_case("model_dir_without_config", lambda w: w.ds, lambda w: w.ds, "error",
                 "not a saved ltvkit model"),
]
CASE_IDS = [c.id for c in CASES]


def _resolve(args: list[str], world: World) -> list[str]:
    attrs = str(_attributes_matching_none(world))
    return [attrs if a == "ATTRS" else a for a in args]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("bad_inputs"))


def classify(case: Case, res: subprocess.CompletedProcess, out_dir: Path | None) -> str:
    """``"pass"``, ``"traceback"`` (a crash, exit code other than 0 / 2, or a traceback),
    ``"silent"`` (exit 0 where an error or a counted / warned fact was due) or ``"unclear"``
    (exit 2 without the expected message)."""
    text = res.stdout + res.stderr
    if out_dir is not None and (out_dir / "quality.json").exists():
        text += (out_dir / "quality.json").read_text()
    if res.returncode not in (0, 2) or "Traceback" in res.stderr:
        return "traceback"
    if case.outcome == "error":
        if res.returncode == 0:
            return "silent"
        return "pass" if case.fragment in " ".join(res.stderr.split()) else "unclear"
    if res.returncode != 0:
        return "unclear"
    return "pass" if case.fragment in " ".join(text.split()) else "silent"


# The real ``ltv`` entry point run on many argument lists in one subprocess (one interpreter
# start instead of one per case); each run's exit code, stdout and stderr are kept apart. An
# exception that escapes the CLI is printed as a traceback, as ``ltv`` itself would.
_BATCH_DRIVER = """
import contextlib, io, json, sys, traceback
from ltvkit.cli import app
results = []
for args in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            app(args, prog_name="ltv")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append({"rc": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
sys.__stdout__.write(json.dumps(results))
"""

# Inputs that could crash a native library (and the interpreter with it) get a process each.
OWN_PROCESS = {"truncated_booster", "truncated_safetensors", "truncated_gzip", "corrupt_parquet"}


def _out_dir(args: list[str]) -> Path | None:
    return Path(args[args.index("--out") + 1]) if args[0] == "prepare" else None


def run_cli_cases(cases: list[Case], world: World, env: dict[str, str] | None = None
                  ) -> dict[str, tuple[str, subprocess.CompletedProcess]]:
    """Every case through the CLI: a subprocess each for OWN_PROCESS, one batch for the rest."""
    argv = {c.id: _resolve(c.cli(world), world) for c in cases}
    results: dict[str, subprocess.CompletedProcess] = {}
    batch = [c for c in cases if c.id not in OWN_PROCESS]
    for c in cases:
        if c.id in OWN_PROCESS:
            results[c.id] = ltv(*argv[c.id], env=env)
    if batch:
        proc = subprocess.run([sys.executable, "-c", _BATCH_DRIVER], capture_output=True,
                              text=True, encoding="utf-8", errors="replace", check=False,
                              env=env, timeout=900,
                              input=json.dumps([argv[c.id] for c in batch]))
        assert proc.returncode == 0, proc.stderr[-3000:]
        for c, r in zip(batch, json.loads(proc.stdout), strict=True):
            results[c.id] = subprocess.CompletedProcess(argv[c.id], r["rc"], r["stdout"],
                                                        r["stderr"])
    return {c.id: (classify(c, results[c.id], _out_dir(argv[c.id])), results[c.id])
            for c in cases}


@pytest.fixture(scope="module")
def cli_results(world: World) -> dict[str, tuple[str, subprocess.CompletedProcess]]:
    return run_cli_cases(CASES, world)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cli(case: Case, cli_results):
    verdict, res = cli_results[case.id]
    assert verdict == "pass", (verdict, res.returncode, res.stderr[-2000:], res.stdout[-1000:])
    if case.outcome == "error":
        # One line that says what is wrong, the last thing printed (a benchmark prints the
        # failed runs' reasons above it).
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert [ln for ln in lines if ln.startswith("error:")] == [lines[-1]], res.stderr
        if case.id != "benchmark_every_model_failed":
            assert len(lines) == 1, res.stderr


API_CASES = [c for c in CASES if c.api is not None]


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_api(case: Case, world: World):
    def call() -> str:
        if case.id == "attributes_matching_nobody":
            return api_prepare([str(world.good), "--cutoff", CUTOFF, "--period", "M",
                                "--attributes", str(_attributes_matching_none(world))])
        return case.api(world)

    if case.outcome == "error":
        with pytest.raises(LTVError) as info:
            call()
        assert case.fragment in " ".join(str(info.value).split())
    else:
        assert case.fragment in " ".join(call().split())


def test_the_table_has_unique_ids_and_every_command():
    assert len(set(CASE_IDS)) == len(CASES)
    w = World.__new__(World)  # the builders only name paths under root
    w.root, w.good, w.ds = Path("/nonexistent"), Path("/nonexistent/good.csv"), Path("/x")
    commands = {c.cli(w)[0] for c in CASES if c.id in ("missing_file", "unknown_model",
                                                       "seeds_not_integers",
                                                       "gini_all_labels_equal")}
    assert commands == {"prepare", "train", "benchmark", "evaluate"}


def test_loaded_model_with_checksums_predicts_identically(world: World):
    """Checksums change nothing for an intact model: it loads and predicts as saved."""
    from ltvkit.data import LTVDataset
    from ltvkit.models import LTVModel, create_model

    data = LTVDataset.load(world.ds)
    model = create_model("lgbm", n_estimators=5, min_child_samples=5, n_threads=1).fit(data)
    loaded = LTVModel.load(world.lgbm)
    np.testing.assert_array_equal(model.predict(data).value, loaded.predict(data).value)
    config = json.loads((world.lgbm / "config.json").read_text())
    assert set(config["files"]) == {"arrays.safetensors", "booster.txt"}


if __name__ == "__main__":  # pragma: no cover - run the table against another checkout
    # PYTHONPATH=<new src> python tests/test_bad_inputs.py <src to test> builds the inputs with
    # this checkout and runs every CLI case with the other one, printing a verdict per case.
    import tempfile

    other = sys.argv[1]
    w = World(Path(tempfile.mkdtemp()))
    env = {**os.environ, "PYTHONPATH": other}
    tally: dict[str, int] = {}
    for cid, (verdict, res) in run_cli_cases(CASES, w, env).items():
        tally[verdict] = tally.get(verdict, 0) + 1
        print(f"{cid:40s} {verdict:10s} exit {res.returncode}", flush=True)
    print(json.dumps(tally))
