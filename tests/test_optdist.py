"""OptDist's defining mechanisms (MODELS.md §4) on a CDNOW slice."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltvkit.models import create_model  # noqa: E402
from ltvkit.models.optdist import pseudo_labels, sdn_nll  # noqa: E402
from ltvkit.nn.losses import ZILNParams, ziln_mean  # noqa: E402

TINY = {"hidden": (16, 8), "sdn_hidden": (8,), "dsm_hidden": (8,), "max_epochs": 3,
        "batch_size": 128, "lr": 1e-2, "n_threads": 1}


@pytest.fixture(scope="module")
def fitted(cdnow_slices):
    train, valid, test = cdnow_slices
    model = create_model("optdist", **TINY).fit(train, valid)
    return model, model.predict(test), test


def test_selection_is_one_hot_and_deterministic_at_inference(fitted):
    model, pred, test = fitted
    module, inputs = model.module_, model._inputs(test)
    module.eval()
    with torch.no_grad():
        a, b = module(inputs), module(inputs)
    torch.testing.assert_close(a["pi"], b["pi"], rtol=0, atol=0)
    assert torch.all(a["pi"].sum(1) == 1) and torch.all((a["pi"] == 0) | (a["pi"] == 1))
    assert torch.equal(a["pi"].argmax(1), a["log_alpha"].argmax(1))
    np.testing.assert_array_equal(pred.extras["selected"], a["log_alpha"].argmax(1).numpy())
    np.testing.assert_array_equal(model.predict(test).value, pred.value)


def test_gumbel_selection_in_training_is_stochastic_but_seeded(fitted):
    model, _, test = fitted
    module, inputs = model.module_, model._inputs(test)
    module.train()
    try:
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(123)
            first, second = module(inputs)["pi"], module(inputs)["pi"]
            torch.manual_seed(123)
            again = module(inputs)["pi"]
    finally:
        module.eval()
    assert torch.all((first == 0) | (first == 1))  # straight-through: hard one-hot forward
    assert not torch.equal(first, second)
    assert torch.equal(first, again)


def test_pseudo_labels_are_the_argmin_of_the_sdn_losses(fitted):
    nll = torch.tensor([[0.3, -1.0, 2.0, 0.5], [4.0, 3.0, 2.0, 1.0]], requires_grad=True)
    hard, soft = pseudo_labels(nll)
    assert hard.tolist() == [[0, 1, 0, 0], [0, 0, 0, 1]]
    torch.testing.assert_close(soft, torch.softmax(-nll.detach(), 1))
    assert not hard.requires_grad and not soft.requires_grad
    model, _, test = fitted
    with torch.no_grad():
        out = model.module_(model._inputs(test))
        y = torch.from_numpy(model.label_scaler_.transform(test.labels[:, :1]))
        loss = sdn_nll(out["logits"], y)
    hard, _ = pseudo_labels(loss)
    assert torch.equal(hard.argmax(1), loss.argmin(1))


def test_prediction_is_the_selected_sdn_ziln_mean(fitted):
    model, pred, test = fitted
    with torch.no_grad():
        out = model.module_(model._inputs(test))
    means = ziln_mean(ZILNParams(out["logits"].double())).numpy()  # [n, L]
    chosen = out["log_alpha"].argmax(1).numpy()
    expected = means[np.arange(len(test)), chosen] * model.label_scaler_.scale
    np.testing.assert_allclose(pred.value[:, 0], expected, rtol=1e-12)
    assert pred.p_active is not None and pred.quantiles is not None
