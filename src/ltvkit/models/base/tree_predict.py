"""A LightGBM booster's trees evaluated by one Numba kernel: the numbers ``Booster.predict``
gives, bit for bit, in a fraction of its time.

LightGBM's own predictor copies every row into a fresh vector of (index, value) pairs and then
into a dense buffer, and walks each tree with a data-dependent branch per node; on the 2M-row
scoring benchmark that was the largest stage of ``ltv score``. Here the trees are evaluated the
QuickScorer way (Lucchese et al. [1]_): a block of rows is transposed into columns once, every
node of a tree is tested against the whole block (a comparison the CPU vectorises, no branch),
each test a row fails clears the leaves of the node's left subtree from the row's bitmask, and
the row's exit leaf is the leftmost leaf left. :class:`TreeEnsemble` holds the flattened trees
(parsed from the booster's text model, the form ``booster.txt`` holds) and is built once per
booster. It reproduces LightGBM's prediction path exactly (``include/LightGBM/tree.h``
``NumericalDecision`` / ``CategoricalDecision``, ``c_api.cpp`` ``RowPairFunctionFromDenseMatric``,
``GBDT::PredictRaw``, the objectives' ``ConvertOutput``; LightGBM 4.x):

- a value with ``|v| <= 1e-35f`` is read as 0 (the C API drops it from the sparse row);
- numerical split: NaN becomes 0 unless the node's missing type is NaN; a missing value
  (type Zero and 0, or type NaN and NaN) goes to the default side; else ``v <= threshold``
  goes left (for float32 inputs the threshold is the largest float32 not above it, which
  decides every float32 value the same way);
- categorical split: NaN, values <= -1 and values beyond ``int32`` go right; category
  ``int(v)`` (truncated toward 0) goes left when its bit is set in the node's bitset;
- the leaf values of all trees are summed in float64 in the booster's tree order from 0.0, then
  the objective's output transform (identity; ``exp`` for tweedie / poisson / gamma; the
  sigmoid for binary) is applied with the C library's ``exp``, as LightGBM does.

Boosters outside that set (trees of more than 64 leaves, linear trees, several trees per
iteration, random-forest averaging, other objectives or objective options) give ``None`` from
:meth:`TreeEnsemble.from_booster`, and :func:`predict` falls back to ``Booster.predict``:
LightGBM stays the reference.

References
----------
.. [1] Lucchese, C., Nardini, F. M., Orlando, S., Perego, R., Tonellotto, N., Venturini, R.
   (2015). "QuickScorer: A Fast Algorithm to Rank Documents with Additive Ensembles of
   Regression Trees." SIGIR 2015, doi:10.1145/2766462.2767733.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from ltvkit.models.base.lgbm import lgbm_threads

# LightGBM's kZeroThreshold is the float 1e-35f, compared as a double.
ZERO_THRESHOLD = float(np.float32(1e-35))
_INT32_LIMIT = 2147483648.0
# LightGBM's MissingType None / Zero (NaN is 2) and decision_type bits.
_MISSING_NONE, _MISSING_ZERO = 0, 1
_CATEGORICAL_MASK, _DEFAULT_LEFT_MASK = 1, 2
# Output transforms of the objectives this module evaluates (``ConvertOutput``).
_IDENTITY, _EXP, _SIGMOID = 0, 1, 2
_OBJECTIVES = {"regression": _IDENTITY, "regression_l1": _IDENTITY, "huber": _IDENTITY,
               "fair": _IDENTITY, "quantile": _IDENTITY, "mape": _IDENTITY,
               "tweedie": _EXP, "poisson": _EXP, "gamma": _EXP, "binary": _SIGMOID}
# Objective options that do not change the output transform (any other option, e.g.
# regression's ``sqrt``, falls back to LightGBM).
_NEUTRAL_OPTIONS = ("alpha", "fair_c", "tweedie_variance_power", "poisson_max_delta_step")
# A tree's leaves are the bits of one integer: 32 fit in uint32 (twice the rows per vector
# instruction), 64 in uint64; larger trees are left to LightGBM.
_MAX_LEAVES = 64
# The position of the lowest set bit of a uint64 with one bit set (de Bruijn multiplication).
_DEBRUIJN = 0x03F79D71B4CB0A89
_LOWEST_BIT = np.zeros(64, np.int64)
for _bit in range(64):
    _LOWEST_BIT[(((1 << _bit) * _DEBRUIJN) & (2**64 - 1)) >> 58] = _bit


@dataclass(frozen=True)
class TreeEnsemble:
    """The trees of one booster as flat arrays (every index global across trees).

    Nodes of tree ``t``: ``node_start[t]`` to ``node_start[t + 1]``; per node ``feature``,
    ``threshold`` (and ``threshold32`` for float32 inputs), ``categorical``, where a NaN and a
    zero go (``nan_left`` / ``zero_left``: LightGBM's missing type and default side, resolved
    once here), ``exit_mask`` (the tree's leaves without those of the node's left subtree:
    what a row that goes right may still reach; uint32 or uint64), ``cat_start`` /
    ``cat_words`` (a categorical node's bitset in ``cat_bits``). Leaves of tree ``t``:
    ``leaf_value[leaf_start[t]:]``, left to right. ``n_features``: the columns the booster was
    trained on; ``transform`` / ``sigmoid``: the output transform.
    """

    node_start: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    threshold32: np.ndarray
    categorical: np.ndarray
    nan_left: np.ndarray
    zero_left: np.ndarray
    exit_mask: np.ndarray
    cat_start: np.ndarray
    cat_words: np.ndarray
    cat_bits: np.ndarray
    leaf_start: np.ndarray
    leaf_value: np.ndarray
    n_features: int
    transform: int
    sigmoid: float

    @classmethod
    def from_booster(cls, booster) -> TreeEnsemble | None:
        """The booster's trees (the iterations ``Booster.predict`` uses by default), or
        ``None`` when the booster has something this module does not evaluate."""
        return cls.from_model_string(booster.model_to_string())

    @classmethod
    def from_model_string(cls, text: str) -> TreeEnsemble | None:
        header, trees = _parse_model(text)
        if header is None:
            return None
        max_leaves = max((int(tree["num_leaves"]) for tree in trees), default=1)
        if max_leaves > _MAX_LEAVES or any(tree.get("is_linear", "0") != "0" for tree in trees):
            return None
        width = 32 if max_leaves <= 32 else 64
        names = ("feature", "threshold", "categorical", "nan_left", "zero_left", "exit_mask",
                 "cat_start", "cat_words", "leaf_value")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
        bits, node_start, leaf_start = [], [0], []
        n_bits = n_leaves = 0
        for tree in trees:
            n_leaf = int(tree["num_leaves"])
            values = _floats(tree, "leaf_value")
            leaf_start.append(n_leaves)
            n_leaves += n_leaf
            if n_leaf == 1:  # no node: every row keeps leaf 0
                parts["leaf_value"].append(values)
                node_start.append(node_start[-1])
                continue
            order, exit_mask = _leaf_order(_ints(tree, "left_child"),
                                           _ints(tree, "right_child"), width)
            decision = _ints(tree, "decision_type")
            threshold = _floats(tree, "threshold")
            categorical = (decision & _CATEGORICAL_MASK) > 0
            missing = (decision >> 2) & 3
            default_left = (decision & _DEFAULT_LEFT_MASK) > 0
            zero_goes_left = 0.0 <= threshold
            cat_start = np.zeros(n_leaf - 1, np.int64)
            cat_words = np.zeros(n_leaf - 1, np.int64)
            if categorical.any():
                bounds = _ints(tree, "cat_boundaries")
                index = threshold[categorical].astype(np.int64)
                cat_start[categorical] = bounds[index] + n_bits
                cat_words[categorical] = bounds[index + 1] - bounds[index]
                tree_bits = _ints(tree, "cat_threshold")
                bits.append(tree_bits)
                n_bits += len(tree_bits)
            for name, value in (
                    ("feature", _ints(tree, "split_feature")), ("threshold", threshold),
                    ("categorical", categorical),
                    # Missing type NaN: NaN to the default side; Zero: NaN is read as 0, and
                    # 0 is the missing value; None: NaN is read as 0, compared as a number.
                    ("nan_left", np.where(missing == _MISSING_NONE, zero_goes_left,
                                          default_left)),
                    ("zero_left", np.where(missing == _MISSING_ZERO, default_left,
                                           zero_goes_left)),
                    ("exit_mask", exit_mask), ("cat_start", cat_start),
                    ("cat_words", cat_words), ("leaf_value", values[order])):
                parts[name].append(value)
            node_start.append(node_start[-1] + n_leaf - 1)

        def join(name, dtype):
            return _joined(parts[name], dtype)

        threshold = join("threshold", np.float64)
        return cls(node_start=np.asarray(node_start, np.int64),
                   feature=join("feature", np.int64), threshold=threshold,
                   threshold32=_float32_floor(threshold),
                   categorical=join("categorical", np.bool_),
                   nan_left=join("nan_left", np.bool_), zero_left=join("zero_left", np.bool_),
                   exit_mask=join("exit_mask", np.uint32 if width == 32 else np.uint64),
                   cat_start=join("cat_start", np.int64), cat_words=join("cat_words", np.int64),
                   cat_bits=_joined(bits, np.uint32),
                   leaf_start=np.asarray(leaf_start, np.int64),
                   leaf_value=join("leaf_value", np.float64), n_features=header["n_features"],
                   transform=header["transform"], sigmoid=header["sigmoid"])

    def predict(self, x: np.ndarray, n_threads: int | None = None, *,
                raw_score: bool = False) -> np.ndarray:
        """[n] float64: what ``Booster.predict(x, raw_score=raw_score)`` gives for the
        [n, n_features] float32 / float64 matrix ``x``; ``n_threads`` as ltvkit's models
        take it (``None``: all of Numba's threads)."""
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x: expected [n, {self.n_features}] features, got shape "
                             f"{x.shape}")
        out = np.empty(len(x), np.float64)
        keep_all = self.exit_mask.dtype.type(np.iinfo(self.exit_mask.dtype).max)
        old = numba.get_num_threads()
        numba.set_num_threads(max(1, min(int(n_threads or old),
                                         numba.config.NUMBA_NUM_THREADS)))
        try:
            _predict_rows(x, self.threshold32 if x.dtype == np.float32 else self.threshold,
                          self.node_start, self.feature, self.categorical, self.nan_left,
                          self.zero_left, self.exit_mask, keep_all, self.cat_start,
                          self.cat_words, self.cat_bits, self.leaf_start, self.leaf_value,
                          _IDENTITY if raw_score else self.transform, self.sigmoid, out)
        finally:
            numba.set_num_threads(old)
        return out


# Ensembles built per booster object, so a model builds its arrays once; weak, so they go
# with the booster.
_ENSEMBLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def ensemble_of(booster) -> TreeEnsemble | None:
    """The :class:`TreeEnsemble` of ``booster`` (built on first use), or ``None`` when only
    LightGBM can predict it."""
    try:
        return _ENSEMBLES[booster]
    except KeyError:
        ens = _ENSEMBLES[booster] = TreeEnsemble.from_booster(booster)
        return ens


def predict(booster, x: np.ndarray, n_threads: int | None = None) -> np.ndarray:
    """``booster.predict(x)`` (``n_threads``: ltvkit's convention, ``None`` = all cores),
    by the compiled trees when the booster allows, else by LightGBM itself."""
    ens = ensemble_of(booster)
    if ens is None or np.ndim(x) != 2 or np.shape(x)[1] != ens.n_features:
        # LightGBM's own path, also for the shapes it rejects (its error message).
        return booster.predict(x, num_threads=lgbm_threads(n_threads))
    return ens.predict(x, n_threads)


# ---------------------------------------------------------------------- the model text
def _parse_model(text: str) -> tuple[dict | None, list[dict[str, str]]]:
    """(header facts, the trees' ``key=value`` lines), header ``None`` when unsupported."""
    blocks = text.split("\nTree=")
    head = _key_values(blocks[0])
    trees = [_key_values(b) for b in blocks[1:]]
    if trees:  # the last tree's block runs on into "end of trees" and the parameters
        trees[-1] = _key_values(blocks[-1].split("end of trees")[0])
    objective = head.get("objective", "").split()
    if (not objective or objective[0] not in _OBJECTIVES
            or head.get("num_tree_per_iteration") != "1" or "average_output" in head):
        return None, []
    sigmoid = 1.0
    for option in objective[1:]:
        key, _, value = option.partition(":")
        if key == "sigmoid" and objective[0] == "binary":
            sigmoid = float(value)
        elif key not in _NEUTRAL_OPTIONS:
            return None, []
    return {"n_features": int(head["max_feature_idx"]) + 1,
            "transform": _OBJECTIVES[objective[0]], "sigmoid": sigmoid}, trees


def _key_values(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
        elif line.strip():
            out[line.strip()] = ""
    return out


def _floats(tree: dict[str, str], key: str) -> np.ndarray:
    # Python's float() rounds the 17-digit text correctly, as LightGBM's own parser does.
    return np.array([float(v) for v in tree[key].split()], dtype=np.float64)


def _ints(tree: dict[str, str], key: str) -> np.ndarray:
    return np.array(tree[key].split(), dtype=np.int64)


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros(0), dtype=dtype)


def _leaf_order(left: np.ndarray, right: np.ndarray, width: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(the tree's leaves from left to right, per node the exit mask: all ``width`` bits set
    but those of the leaves of its left subtree). A subtree's leaves are contiguous in that
    order, so a node's left subtree is one run of bits."""
    order: list[int] = []
    exit_mask = np.zeros(len(left), np.uint64)
    full = 2**width - 1

    def walk(child: int) -> None:
        if child < 0:
            order.append(~child)
            return
        start = len(order)
        walk(int(left[child]))
        run = len(order) - start
        exit_mask[child] = full ^ (((1 << run) - 1) << start)
        walk(int(right[child]))

    walk(0)
    return np.asarray(order, np.int64), exit_mask


def _float32_floor(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 not above each threshold: for a float32 value ``v``,
    ``v <= t`` exactly when ``v <= _float32_floor(t)``."""
    with np.errstate(over="ignore"):
        near = threshold.astype(np.float32)
    above = near.astype(np.float64) > threshold
    near[above] = np.nextafter(near[above], np.float32(-np.inf))
    return near


# ---------------------------------------------------------------------- the kernel
# Rows per block: the block's feature columns stay in the L1 cache while every node of every
# tree is tested against them.
_BLOCK_ROWS = 128


# Holds the GIL (no nogil=True), as ltvkit's other kernels: Numba's default threading layer
# must not be entered by two Python threads at once. Compiled once per input dtype and mask
# width (cache=True), never per model: the trees are data.
@njit(cache=True, parallel=True)
def _predict_rows(x, threshold, node_start, feature, categorical, nan_left, zero_left,
                  exit_mask, keep_all, cat_start, cat_words, cat_bits, leaf_start, leaf_value,
                  transform, sigmoid, out):
    n, n_features = x.shape
    n_blocks = (n + _BLOCK_ROWS - 1) // _BLOCK_ROWS
    for block in prange(n_blocks):
        lo = block * _BLOCK_ROWS
        m = min(n, lo + _BLOCK_ROWS) - lo
        columns = np.empty((n_features, m), x.dtype)
        for r in range(m):
            for f in range(n_features):
                v = x[lo + r, f]
                columns[f, r] = 0.0 if abs(np.float64(v)) <= ZERO_THRESHOLD else v
        acc = np.zeros(m)
        reachable = np.empty(m, exit_mask.dtype)
        # Tree after tree: each row still adds its trees' leaves in the booster's order.
        for t in range(len(leaf_start)):
            reachable[:] = keep_all
            for j in range(node_start[t], node_start[t + 1]):
                column = columns[feature[j]]
                if categorical[j]:
                    for r in range(m):
                        if not _category_left(np.float64(column[r]), cat_start[j],
                                              cat_words[j], cat_bits):
                            reachable[r] &= exit_mask[j]
                else:
                    limit, zero, nan, mask = threshold[j], zero_left[j], nan_left[j], exit_mask[j]
                    for r in range(m):
                        v = column[r]
                        is_zero = v == 0.0
                        # No branch: a number compares with the threshold, a zero and a
                        # NaN go where the node sends them.
                        go_left = ((v <= limit) & ~is_zero) | (is_zero & zero) | (
                            (v != v) & nan)
                        reachable[r] &= keep_all if go_left else mask
            first = leaf_start[t]
            for r in range(m):
                bits = np.uint64(reachable[r])
                lowest = bits & (~bits + np.uint64(1))
                acc[r] += leaf_value[first + _LOWEST_BIT[(lowest * np.uint64(_DEBRUIJN))
                                                         >> np.uint64(58)]]
        for r in range(m):
            value = acc[r]
            if transform == _EXP:
                value = math.exp(value)
            elif transform == _SIGMOID:
                value = 1.0 / (1.0 + math.exp(-sigmoid * value))
            out[lo + r] = value


@njit(cache=True)
def _category_left(v, start, words, bits):
    """LightGBM's categorical decision: NaN, values <= -1 and values beyond int32 go right
    (its int cast truncates toward 0, so (-1, 0) is category 0); category ``c`` goes left
    when bit ``c`` of the node's bitset is set."""
    if math.isnan(v) or v <= -1.0 or v >= _INT32_LIMIT:
        return False
    cat = np.int64(v)
    word = cat // 32
    return word < words and ((bits[start + word] >> (cat % 32)) & 1) == 1
