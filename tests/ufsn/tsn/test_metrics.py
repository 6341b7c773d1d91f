"""Metrics against hand-worked cases."""

import numpy as np
import pytest

from ufsn.tsn.metrics import classification_metrics, confusion_matrix, topk_accuracy


def test_hand_worked_metrics():
    scores = np.array(
        [
            [0.9, 0.1, 0.0],  # true 0, pred 0
            [0.2, 0.7, 0.1],  # true 0, pred 1 (label second)
            [0.1, 0.2, 0.7],  # true 1, pred 2 (label second)
            [0.0, 0.1, 0.9],  # true 2, pred 2
        ]
    )
    labels = np.array([0, 0, 1, 2])
    m = classification_metrics(scores, labels)
    assert m.top1 == pytest.approx(0.5)
    assert m.top5 == pytest.approx(1.0)  # 3 classes: top-5 covers all
    assert topk_accuracy(scores, labels, 2) == pytest.approx(1.0)
    # per class: 0 -> 1/2, 1 -> 0/1, 2 -> 1/1 ; mean = 0.5
    assert m.mean_class_acc == pytest.approx(0.5)
    assert confusion_matrix(scores, labels, 3).tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 1]]
    # 2 of 4 right: Wilson interval 0.5 +- z sqrt(1/16 + z^2/64) / (1 + z^2/4) = [0.150, 0.850]
    assert m.clips == 4
    assert m.top1_ci95 == pytest.approx(0.3498, abs=1e-3)


def test_mean_class_differs_from_top1_when_unbalanced():
    scores = np.eye(2)[[0, 0, 0, 0]]  # always predicts 0
    labels = np.array([0, 0, 0, 1])
    m = classification_metrics(scores, labels)
    assert m.top1 == pytest.approx(0.75)
    assert m.mean_class_acc == pytest.approx(0.5)


def test_bad_shapes():
    with pytest.raises(ValueError):
        classification_metrics(np.zeros((3, 2)), np.zeros(2, dtype=int))
