"""What the ensemble models share: building, fitting and predicting their member models, and
saving each member in its own sub-folder (``members/<i>-<name>/``, the member's own
``config.json`` + safetensors + native files; no pickle).

An ensemble's ``__init__`` stores ``base_models`` (registered model names), ``base_params``
(``{name: {param: value}}`` for the members), ``random_state`` and ``n_threads`` (passed to
every member that takes them). Members predict the ensemble's first horizon.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.data.dataset import LTVDataset
from ltvkit.errors import DataValidationError, ModelError
from ltvkit.models.base.model import LTVModel
from ltvkit.models.registry import create_model, get_model_class, load_model

MEMBERS_DIR = "members"


class EnsembleModel(LTVModel):
    """Base class of ``stack``, ``blend``, ``segment_ensemble`` and ``auto``."""

    tags = {"uses_attributes": True}
    base_models: Any
    base_params: dict[str, dict[str, Any]] | None
    random_state: int
    n_threads: int | None

    def _validate_params(self) -> None:
        names = list(self._member_names())
        if not names:
            raise ModelError(f"{self.name}: base_models is empty")
        for name in names:
            get_model_class(name)  # raises naming the unknown model
        if len(set(names)) != len(names):
            raise ModelError(f"{self.name}: base_models names a model twice: {names}")
        unknown = set(self.base_params or {}) - set(names)
        if unknown:
            raise ModelError(f"{self.name}: base_params names models that are not members: "
                             f"{sorted(unknown)}")

    @property
    def reads_sequences(self) -> bool:
        """Whether any member reads sequences (the fitted members, else the named ones)."""
        members = (self.saved_members() if self.is_fitted else
                   [self.make_member(name) for name in self._member_names()])
        return any(m.reads_sequences for m in members)

    @property
    def predicts_rows_independently(self) -> bool:
        members = (self.saved_members() if self.is_fitted else
                   [self.make_member(name) for name in self._member_names()])
        return all(m.predicts_rows_independently for m in members)

    def _member_names(self) -> list[str]:
        return [self.base_models] if isinstance(self.base_models, str) else list(self.base_models)

    def make_member(self, name: str, extra: dict[str, Any] | None = None) -> LTVModel:
        """An unfitted member ``name`` with its ``base_params``, the ensemble's seed and
        threads."""
        cls = get_model_class(name)
        params = {**(self.base_params or {}).get(name, {}), **(extra or {})}
        known = cls._param_names()
        if "random_state" in known:
            params.setdefault("random_state", int(self.random_state))
        if "n_threads" in known and self.n_threads is not None:
            params.setdefault("n_threads", self.n_threads)
        return create_model(name, **params)

    @staticmethod
    def member_values(models: list[LTVModel], data: LTVDataset, horizon: str) -> np.ndarray:
        """[n, M] first-horizon predictions of the fitted ``models``."""
        cols = []
        for m in models:
            pred = m.predict(data)
            cols.append(pred.value[:, pred.horizon_index(horizon)])
        return np.column_stack(cols)

    @staticmethod
    def require_samples(name: str, data: LTVDataset, minimum: int) -> None:
        if len(data) < minimum:
            raise DataValidationError(f"{name}: needs at least {minimum} training samples, "
                                      f"got {len(data)}")

    # ------------------------------------------------------------------ persistence
    def saved_members(self) -> list[LTVModel]:
        """The fitted member models to save (in order)."""
        return list(self.members_)

    def restore_members(self, members: list[LTVModel]) -> None:
        self.members_ = members

    def _save_files(self, directory: Path) -> None:
        for i, m in enumerate(self.saved_members()):
            m.save(directory / MEMBERS_DIR / f"{i}-{m.name}")

    def _load_files(self, directory: Path) -> None:
        root = directory / MEMBERS_DIR
        if not root.is_dir():
            raise ModelError(f"{directory} is missing the ensemble's {MEMBERS_DIR}/ folder")
        dirs = sorted((p for p in root.iterdir() if p.is_dir()),
                      key=lambda p: int(p.name.split("-", 1)[0]))
        self.restore_members([load_model(p) for p in dirs])


def customer_folds(data: LTVDataset, k: int, seed: int) -> np.ndarray:
    """[n] fold index in ``0..k-1``, all samples of a customer in one fold (seeded)."""
    ids = data.customer_id.astype(str)
    customers, inverse = np.unique(ids, return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(customers))
    fold_of_customer = np.empty(len(customers), dtype=np.int64)
    fold_of_customer[order] = np.arange(len(customers)) % k
    return fold_of_customer[inverse]


def holdout_split(data: LTVDataset, share: float, seed: int) -> tuple[LTVDataset, LTVDataset]:
    """``(rest, held_out)``: a seeded ``share`` of the customers held out."""
    fold = customer_folds(data, max(2, int(round(1.0 / share))), seed)
    return data.subset(fold != 0), data.subset(fold == 0)
