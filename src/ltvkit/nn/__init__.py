"""The PyTorch core of ltvkit's deep models (needs the ``torch`` extra).

- :mod:`ltvkit.nn.trainer`: the one training loop (tensor batching, Adam, early stopping,
  ReduceLROnPlateau, clipping, seeding, device choice, progress bar, loss-weight schedules);
- :mod:`ltvkit.nn.preprocess`: fitted, saveable feature / sequence / label scalers;
- :mod:`ltvkit.nn.blocks`: embeddings, MLP, DeepFM, LSTM/GRU, TCN, Transformer, 1-D CNN;
- :mod:`ltvkit.nn.losses`: MSE / MAE / Huber / log1p-MSE, ZILN (loss, mean, quantiles), heads;
- :mod:`ltvkit.nn.heads`: output heads by loss kind, with their loss and prediction rule;
- :mod:`ltvkit.nn.spec`: ``ModuleSpec``, the sizes a network is built for;
- :mod:`ltvkit.nn.sequence`: ``SequenceNet`` (sequence encoder + static features);
- :mod:`ltvkit.nn.cross_domain`: the domain encoder and two-tower network of the cross-domain
  baselines.

A pure PyTorch library: it imports nothing from :mod:`ltvkit.models` (the model base classes
that use it live in :mod:`ltvkit.models.base`).
"""

from ltvkit.nn.blocks import (
    MLP,
    TCN,
    CategoricalEmbeddings,
    CNNEncoder,
    DeepFM,
    RNNEncoder,
    TabularInput,
    TransformerSequenceEncoder,
    embedding_width,
)
from ltvkit.nn.heads import head_loss, head_prediction, make_head
from ltvkit.nn.losses import (
    RegressionHead,
    ZILNHead,
    ZILNParams,
    huber_loss,
    log1p_mse_loss,
    mae_loss,
    mse_loss,
    ziln_loss,
    ziln_mean,
    ziln_nll,
    ziln_p_active,
    ziln_params,
    ziln_quantile,
    ziln_quantiles,
)
from ltvkit.nn.preprocess import FeatureScaler, LabelScaler, SequenceScaler
from ltvkit.nn.sequence import SequenceNet
from ltvkit.nn.spec import ModuleSpec
from ltvkit.nn.trainer import StepSchedule, TensorData, Trainer, TrainingHistory, training_context

__all__ = [
    "CNNEncoder", "CategoricalEmbeddings", "DeepFM", "FeatureScaler", "LabelScaler", "MLP",
    "ModuleSpec", "RNNEncoder", "RegressionHead", "SequenceNet", "SequenceScaler",
    "StepSchedule", "TCN", "TabularInput", "TensorData", "Trainer",
    "TrainingHistory", "TransformerSequenceEncoder", "ZILNHead", "ZILNParams",
    "embedding_width", "head_loss", "head_prediction", "huber_loss", "log1p_mse_loss",
    "mae_loss", "make_head", "mse_loss", "training_context", "ziln_loss", "ziln_mean",
    "ziln_nll", "ziln_p_active", "ziln_params", "ziln_quantile", "ziln_quantiles",
]
