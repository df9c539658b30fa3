"""LTVDataset: per (customer, cutoff) features, categorical codes, period sequences and labels.

Shapes (n samples, F numeric features, K categorical features, T periods, C channels,
H horizons):

    customer_id [n] str, cutoff [n] datetime64[D]
    features [n, F] float32 (NaN = unknown attribute), feature_names [F]
    categorical [n, K] int64 (0 = unknown / unseen category), vocabularies {name: [values]}
    sequences [n, T, C] float32, channel_names [C] (oldest period first, last ends at the cutoff)
    labels [n, H] float64 net spend clipped at 0; label_orders [n, H]; horizons [H]

Cross-domain datasets prefix feature and channel names with the domain
(:mod:`ltvkit.data.layout` owns the naming; ``dataset.layout`` answers where a column is);
``labels`` are the target domain's and ``labels_by_domain`` / ``label_orders_by_domain`` hold
every domain's. ``dataset.feature(name)`` and ``dataset.labels_for(horizon)`` read by name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ltvkit.data.dataset_io import (
    fields_from_table,
    iter_sample_tables,
    keep_arrow_ids,
    read_samples,
    save_dataset,
)
from ltvkit.data.layout import DatasetLayout, Horizon
from ltvkit.errors import DataValidationError

UNKNOWN = "<unknown>"


@dataclass
class LTVDataset:
    customer_id: np.ndarray
    cutoff: np.ndarray
    features: np.ndarray
    feature_names: list[str]
    categorical: np.ndarray
    categorical_names: list[str]
    vocabularies: dict[str, list[str]]
    sequences: np.ndarray
    channel_names: list[str]
    labels: np.ndarray
    label_orders: np.ndarray
    horizons: list[str]
    horizon_days: list[int]
    labels_by_domain: dict[str, np.ndarray] = field(default_factory=dict)
    domains: list[str] = field(default_factory=list)
    target_domain: str | None = None
    sparse: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Every domain's label_orders, beside labels_by_domain (so a domain's view is consistent).
    label_orders_by_domain: dict[str, np.ndarray] = field(default_factory=dict)
    # False when loaded without the period sequences (``load(path, sequences=False)``):
    # ``sequences`` is then an empty [n, 0, 0] array and models that read sequences refuse it.
    sequences_loaded: bool = True

    def __post_init__(self) -> None:
        n = len(self.customer_id)
        for name in ("cutoff", "features", "categorical", "sequences", "labels", "label_orders"):
            arr = getattr(self, name)
            if len(arr) != n:
                raise DataValidationError(f"LTVDataset.{name} has {len(arr)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.customer_id)

    def __repr__(self) -> str:
        return (f"LTVDataset(n={len(self)}, features={len(self.feature_names)}, "
                f"categorical={len(self.categorical_names)}, sequences="
                f"{self.sequences.shape[1:] if self.sequences_loaded else 'not loaded'}, "
                f"horizons={self.horizons})")

    @property
    def purchased(self) -> np.ndarray:
        """[n, H] bool: at least one purchase in the horizon."""
        return self.label_orders > 0

    @property
    def n_customers(self) -> int:
        return len(np.unique(self.customer_id))

    @property
    def layout(self) -> DatasetLayout:
        """Where every column is (domain prefixes, features, channels, horizons)."""
        return DatasetLayout(
            feature_names=tuple(self.feature_names), channel_names=tuple(self.channel_names),
            categorical_names=tuple(self.categorical_names),
            horizons=tuple(Horizon(h, int(d))
                           for h, d in zip(self.horizons, self.horizon_days, strict=True)),
            domains=tuple(self.domains), target_domain=self.target_domain)

    def horizon_index(self, horizon: str | None) -> int:
        return self.layout.horizon_index(horizon)

    def feature(self, name: str, domain: str | None = None) -> np.ndarray:
        """Feature column ``name`` [n] (of ``domain``; ``None``: the unprefixed column)."""
        return self.features[:, self.layout.feature_index(name, domain)]

    def target_feature(self, name: str) -> np.ndarray:
        """The target domain's feature ``name`` [n] (the plain column on a one-domain set)."""
        return self.features[:, self.layout.target_feature_index(name)]

    def labels_for(self, horizons: str | Sequence[str], domain: str | None = None
                   ) -> np.ndarray:
        """Labels of one horizon [n], or of several [n, len(horizons)] in the order given;
        ``domain`` reads that domain's labels (``labels_by_domain``) instead of the target's."""
        labels = self.labels
        if domain is not None:
            if domain not in self.labels_by_domain:
                raise DataValidationError(f"the dataset has no labels of domain '{domain}' "
                                          f"(it has {sorted(self.labels_by_domain)})")
            labels = self.labels_by_domain[domain]
        if isinstance(horizons, str):
            return labels[:, self.layout.horizon_index(horizons)]
        return labels[:, self.layout.horizon_indices(list(horizons))]

    def feature_frame(self):
        """Features and categorical codes as a pandas DataFrame (for tabular models / SHAP)."""
        import pandas as pd

        df = pd.DataFrame(self.features, columns=self.feature_names)
        for j, name in enumerate(self.categorical_names):
            df[name] = self.categorical[:, j]
        return df

    def subset(self, index: np.ndarray) -> LTVDataset:
        """Rows ``index`` (a boolean mask or integer positions) as a new dataset."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return LTVDataset(
            customer_id=self.customer_id[idx], cutoff=self.cutoff[idx],
            features=self.features[idx], feature_names=list(self.feature_names),
            categorical=self.categorical[idx], categorical_names=list(self.categorical_names),
            vocabularies=self.vocabularies, sequences=self.sequences[idx],
            channel_names=list(self.channel_names), labels=self.labels[idx],
            label_orders=self.label_orders[idx], horizons=list(self.horizons),
            horizon_days=list(self.horizon_days),
            labels_by_domain={k: v[idx] for k, v in self.labels_by_domain.items()},
            domains=list(self.domains), target_domain=self.target_domain,
            sparse=None if self.sparse is None else self.sparse[idx], meta=dict(self.meta),
            label_orders_by_domain={k: v[idx] for k, v in self.label_orders_by_domain.items()},
            sequences_loaded=self.sequences_loaded,
        )

    def domain_view(self, domain: str) -> LTVDataset:
        """The columns of one domain only (names without the domain prefix)."""
        if domain not in self.domains:
            raise DataValidationError(f"domain '{domain}' is not in the dataset's {self.domains}")
        layout = self.layout
        # Keep this domain's columns and the shared ones (attributes, calendar), not the others'.
        fcols = layout.domain_features(domain, shared=True)
        ccols = layout.domain_channels(domain)
        view = self.subset(np.arange(len(self)))
        view.features = self.features[:, fcols]
        view.feature_names = [layout.unprefixed(self.feature_names[i]) for i in fcols]
        if self.sequences_loaded:
            view.sequences = self.sequences[:, :, ccols]
        view.channel_names = [layout.unprefixed(self.channel_names[i]) for i in ccols]
        if domain in self.labels_by_domain:
            view.labels = self.labels_by_domain[domain]
        if domain in self.label_orders_by_domain:
            # else `purchased` of the view would be the target domain's, not this domain's
            view.label_orders = self.label_orders_by_domain[domain]
        # The view is a single-domain dataset: models read its names unprefixed.
        view.domains, view.target_domain = [], None
        view.labels_by_domain, view.label_orders_by_domain = {}, {}
        return view

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``samples.parquet`` (ids, features, codes, labels, flattened sequences) and
        ``dataset.json`` (names, vocabularies, horizons, task, data-quality report)."""
        return save_dataset(self, path)

    @classmethod
    def load(cls, path: str | Path, *, sequences: bool = True) -> LTVDataset:
        """The dataset in the folder ``path`` (``samples.parquet`` or Parquet parts in
        ``samples/``); :func:`iter_dataset_chunks` reads it in chunks.
        ``sequences=False`` skips the period sequences (for models that do not read them,
        see ``LTVModel.reads_sequences``)."""
        return load_dataset(path, sequences=sequences)

    # ------------------------------------------------------------------ splits
    def split_customers(self, seed: int = 0, test_frac: float = 0.2,
                        valid_frac: float = 0.1) -> tuple[LTVDataset, LTVDataset, LTVDataset]:
        """The benchmark protocol's split: a seeded random ``1 - test_frac`` of the customers
        train (``valid_frac`` of those validate), the rest test. All samples of one customer
        fall on the same side, so sliding cutoffs cannot leak a customer across the split."""
        customers = np.unique(self.customer_id.astype(str))
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(customers))
        n_test = int(round(test_frac * len(customers)))
        n_valid = int(round(valid_frac * (len(customers) - n_test)))
        test_c = set(customers[perm[:n_test]])
        valid_c = set(customers[perm[n_test:n_test + n_valid]])
        ids = self.customer_id.astype(str)
        is_test = np.fromiter((c in test_c for c in ids), bool, len(ids))
        is_valid = np.fromiter((c in valid_c for c in ids), bool, len(ids))
        return (self.subset(~is_test & ~is_valid), self.subset(is_valid), self.subset(is_test))

    def split_by_time(self, train_until: str, valid_until: str
                      ) -> tuple[LTVDataset, LTVDataset, LTVDataset]:
        """Cutoffs up to ``train_until`` train, up to ``valid_until`` validate, later ones test."""
        t1 = np.datetime64(train_until, "D")
        t2 = np.datetime64(valid_until, "D")
        return (self.subset(self.cutoff <= t1), self.subset((self.cutoff > t1) &
                                                            (self.cutoff <= t2)),
                self.subset(self.cutoff > t2))


def dataset_from_table(table: pa.Table, meta: dict[str, Any], *,
                       sequences: bool = True) -> LTVDataset:
    """An LTVDataset from a samples table (any number of rows) and its ``dataset.json``
    (:mod:`ltvkit.data.dataset_io` has the format); ``sequences=False`` leaves the sequences
    out (the table need not hold them)."""
    ds = LTVDataset(**fields_from_table(table, meta, sequences=sequences))
    keep_arrow_ids(ds, table.column("customer_id"))
    return ds


def load_dataset(path: str | Path, *, sequences: bool = True) -> LTVDataset:
    """The whole dataset in the folder ``path`` (one file or Parquet parts); with
    ``sequences=False`` without the period sequences."""
    table, meta = read_samples(path, sequences=sequences)
    return dataset_from_table(table, meta, sequences=sequences)


def iter_dataset_chunks(path: str | Path, batch_rows: int = 262_144, *,
                        sequences: bool = True) -> Iterator[LTVDataset]:
    """The dataset in ``path`` as consecutive LTVDatasets of at most ``batch_rows`` samples,
    in file order, holding one chunk in memory at a time (for data larger than memory);
    ``sequences=False`` skips the period sequences."""
    for table, meta in iter_sample_tables(path, batch_rows, sequences=sequences):
        yield dataset_from_table(table, meta, sequences=sequences)
