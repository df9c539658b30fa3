"""Autoencoder + MLP: unsupervised latent features of the customer, then a value regressor.

Kumar, Arya and Gupta [1]_ ("Deep Learning for Big Data in Predicting Customer Lifetime
Value") use autoencoders to find latent features of customer behaviour and to detect anomalies,
and feeds those features to the CLV predictor. Here, in two training stages of the same module:

1. *autoencoder*: ``x -> encoder -> z [b, latent_dim] -> decoder -> x_hat``, trained on the
   reconstruction error ``mean_f (x_hat_f - x_f)^2`` of the scaled numeric features ``x`` (the
   encoder also reads the categorical embeddings; they are not reconstructed because a trainable
   target could collapse);
2. *regressor*: ``[z, x, embeddings] -> MLP -> value``, trained on the squared error of the label
   (``log_target=True``: of ``log1p(y)``), with the encoder frozen unless
   ``freeze_encoder=False``.

:meth:`AutoencoderMLP.anomaly_score` is the reconstruction error per sample (large = unusual
customer); :meth:`AutoencoderMLP.embed` returns the latent vectors ``z``.

References
----------
.. [1] Kumar, R., Arya, L. K., Gupta, P. "Deep Learning for Big Data in Predicting Customer
   Lifetime Value." (Year and venue are not stated in the available text.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ltvkit.data.dataset import LTVDataset
from ltvkit.models.base.torch_model import TorchLTVModel, TrainingStage
from ltvkit.models.registry import register
from ltvkit.nn.blocks import MLP, TabularInput
from ltvkit.nn.heads import head_loss, head_prediction, make_head
from ltvkit.nn.losses import mse_loss
from ltvkit.nn.spec import ModuleSpec
from ltvkit.prediction import PredictionParts


class AutoencoderRegressor(nn.Module):
    """Autoencoder of the customer features plus a regressor on ``[latent, features]``.

    ``forward`` returns ``{"latent" [b, d], "reconstruction" [b, F], "features" [b, F],
    "value" [b, H]}``.
    """

    def __init__(self, spec: ModuleSpec, encoder_hidden: Sequence[int], latent_dim: int,
                 hidden: Sequence[int], kind: str, freeze_encoder: bool, dropout: float):
        super().__init__()
        self.tabular = TabularInput(spec.n_features, spec.vocab_sizes)
        self.encoder = MLP(self.tabular.out_dim, encoder_hidden, out_dim=latent_dim)
        self.decoder = MLP(latent_dim, tuple(reversed(tuple(encoder_hidden))),
                           out_dim=spec.n_features)
        self.regressor = MLP(latent_dim + self.tabular.out_dim, hidden, dropout=dropout)
        self.head = make_head(kind, self.regressor.out_dim, spec)
        self.freeze_encoder = bool(freeze_encoder)

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        return [*self.tabular.parameters(), *self.encoder.parameters(),
                *self.decoder.parameters()]

    def regressor_parameters(self) -> list[nn.Parameter]:
        head = [*self.regressor.parameters(), *self.head.parameters()]
        return head if self.freeze_encoder else [*self.autoencoder_parameters(), *head]

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        x = batch["features"]
        inputs = self.tabular(x, batch["categorical"])
        latent = self.encoder(inputs)
        # A frozen encoder gets no gradient from the regressor (nor wasted backward work).
        z = latent.detach() if self.freeze_encoder else latent
        value = self.head(self.regressor(torch.cat([z, inputs.detach() if self.freeze_encoder
                                                    else inputs], dim=1)))
        return {"latent": latent, "reconstruction": self.decoder(latent), "features": x,
                "value": value}


@register
class AutoencoderMLP(TorchLTVModel):
    """Autoencoder pre-training on features, then an MLP regressor on latent + features."""

    name = "autoencoder_mlp"
    tags = {"torch": True, "uses_attributes": True}

    def __init__(self, encoder_hidden: Sequence[int] = (32,), latent_dim: int = 8,
                       hidden: Sequence[int] = (64, 32), log_target: bool = False,
                       freeze_encoder: bool = True, pretrain_epochs: int = 100,
                       dropout: float = 0.0, **training: Any):
        self._store_params(locals())
        super().__init__(**training)

    @classmethod
    def test_params(cls) -> list[dict[str, Any]]:
        return [{"encoder_hidden": (8,), "latent_dim": 4, "hidden": (16, 8),
                 "pretrain_epochs": 3, "max_epochs": 3, "batch_size": 128, "lr": 1e-2,
                 "n_threads": 1}]

    @property
    def _kind(self) -> str:
        return "log1p_mse" if self.log_target else "mse"

    def _build_module(self, spec: ModuleSpec) -> nn.Module:
        return AutoencoderRegressor(spec, self.encoder_hidden, self.latent_dim, self.hidden,
                                    self._kind, self.freeze_encoder, self.dropout)

    def _reconstruction_loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return mse_loss(outputs["reconstruction"], outputs["features"])

    def _loss(self, outputs: dict[str, Tensor], y: Tensor, epoch: int) -> Tensor:
        return head_loss(self._kind, outputs["value"], y)

    def _training_stages(self) -> list[TrainingStage]:
        return [
            TrainingStage("autoencoder", self._reconstruction_loss,
                          parameters=lambda m: m.autoencoder_parameters(),
                          max_epochs=self.pretrain_epochs),
            TrainingStage("regressor", self._loss,
                          parameters=lambda m: m.regressor_parameters()),
        ]

    def _predict_parts(self, outputs: dict[str, Tensor]) -> PredictionParts:
        parts = head_prediction(self._kind, outputs["value"])
        error = ((outputs["reconstruction"] - outputs["features"]) ** 2).mean(dim=1)
        parts.extras = {"reconstruction_error": error, "latent": outputs["latent"]}
        return parts

    def anomaly_score(self, data: LTVDataset) -> np.ndarray:
        """Reconstruction error ``[n]`` of each sample's scaled features (large = anomalous)."""
        return self.predict(data).extras["reconstruction_error"]

    def embed(self, data: LTVDataset) -> np.ndarray:
        """Latent vectors ``[n, latent_dim]`` of the autoencoder (customer embeddings)."""
        return self.predict(data).extras["latent"]
