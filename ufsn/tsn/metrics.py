"""Classification metrics of the test protocol: top-1 (with its 95% interval), top-5, mean class accuracy, confusion."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ufsn.intervals import wilson_interval


class ClassificationMetrics(NamedTuple):
    top1: float  # fraction 0..1
    top5: float  # fraction 0..1 (top-k with k = min(5, classes))
    mean_class_acc: float  # mean over classes present in the labels of per-class top-1
    clips: int  # test videos the fractions are over
    top1_ci95: float  # half-width of the 95% Wilson interval of top1 (fraction)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the ``k`` highest scores. scores (N, C), labels (N,)."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (N, k)
    return float((top == labels[:, None]).any(axis=1).mean())


def confusion_matrix(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class (argmax)."""
    pred = scores.argmax(axis=1)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, pred), 1)
    return matrix


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> ClassificationMetrics:
    """Top-1, top-5 and mean class accuracy of video-level ``scores`` (N, C) against ``labels`` (N,)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or len(scores) != len(labels) or len(labels) == 0:
        raise ValueError(f"need scores (N, C) and labels (N,), got {scores.shape} and {labels.shape}")
    matrix = confusion_matrix(scores, labels, scores.shape[1])
    present = matrix.sum(axis=1) > 0
    per_class = np.diag(matrix)[present] / matrix.sum(axis=1)[present]
    top1 = topk_accuracy(scores, labels, 1)
    return ClassificationMetrics(
        top1=top1,
        top5=topk_accuracy(scores, labels, 5),
        mean_class_acc=float(per_class.mean()),
        clips=len(labels),
        top1_ci95=wilson_interval(int(np.trace(matrix)), len(labels)).half_width,
    )
