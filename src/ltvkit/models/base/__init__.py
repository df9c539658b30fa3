"""The model base classes: one per family, each owning the work its models share.

- :mod:`~ltvkit.models.base.model`: :class:`LTVModel`, the contract of every model
  (validation, unseen categories, flooring, persistence as JSON + safetensors, parameters);
- :mod:`~ltvkit.models.base.btyd`: :class:`BTYDModel`, the BTYD likelihood models on RFM
  features (no PyTorch);
- :mod:`~ltvkit.models.base.lgbm`: the LightGBM design matrix, targets and booster files;
- :mod:`~ltvkit.models.base.torch_model`: :class:`TorchLTVModel` (needs PyTorch) and
  :class:`SequenceTorchModel`;
- :mod:`~ltvkit.models.base.cross_domain`: :class:`CrossDomainTorchModel` and
  :class:`TowerTransferModel` (needs PyTorch).

Only the PyTorch-free names are imported here, so ``import ltvkit.models.base`` works
without the ``torch`` extra.
"""

from ltvkit.models.base.model import DEFAULT_TAGS, LTVModel

__all__ = ["DEFAULT_TAGS", "LTVModel"]
