"""`evaluation.<name>` loads every advertised name from its module, including the metrics now in the core."""
from __future__ import annotations

import pytest

import evaluation
from turkish_clip import metrics


def test_every_exported_name_resolves():
    for name in evaluation.__all__:
        assert callable(getattr(evaluation, name)) or isinstance(getattr(evaluation, name), type), name
    assert evaluation.recall_at_k is metrics.recall_at_k
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        evaluation.nope
