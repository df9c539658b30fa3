"""The service's frozen heap (ltvkit.service.heap): frozen once the model is loaded, thawed by
a reload until the replaced model, reference cycles and all, has been collected, then frozen
again by the next request; the replaced model is not kept alive."""

from __future__ import annotations

import gc
import json
import weakref

import pytest

pytest.importorskip("fastapi")

from _serve import prepare_and_train  # noqa: E402
from ltvkit.service.app import ModelHolder  # noqa: E402


@pytest.fixture(scope="module")
def ziln_dir(tmp_path_factory):
    # A torch network holds reference cycles: the case a frozen heap would leak.
    return prepare_and_train(tmp_path_factory.mktemp("heap"), "ziln",
                             json.dumps({"max_epochs": 2, "hidden": [8], "n_threads": 1}))


def test_a_reload_thaws_the_heap_until_the_old_model_is_collected(ziln_dir):
    holder = ModelHolder(ziln_dir)
    try:
        holder.heap.settle()
        assert gc.get_freeze_count() > 0
        old_model = weakref.ref(holder.current)
        old_network = weakref.ref(holder.current.model.module_)
        old, new = holder.reload()
        assert old is not new and holder.current is new
        assert gc.get_freeze_count() == 0  # thawed: the old network's cycles are collectable
        assert holder.current is new  # the old model is still referenced: nothing to settle
        assert gc.get_freeze_count() == 0
        del old
        gc.collect()
        assert old_model() is None and old_network() is None
        assert holder.current is new  # the next request settles the heap again
        assert gc.get_freeze_count() > 0
        # A second reload replaces the first one's model: the same again.
        replaced, newest = holder.reload()
        assert replaced is new and gc.get_freeze_count() == 0
        del replaced, new
        gc.collect()
        assert holder.current is newest
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
