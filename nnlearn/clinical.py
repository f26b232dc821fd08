"""Clinical metrics (chapter 19): what a diagnostic model's scores are worth at the bedside.

A binary classifier gives each case a **score** (a probability or a logit); the positive class
(label 1) is the condition looked for, e.g. *malignant*. Labels must be 0 or 1: map the classes
first (scikit-learn's breast-cancer data has ``target`` 0 for malignant, so ``y = 1 - target``).

* Ranking, whatever the threshold: :func:`roc_curve`, :func:`roc_auc_score`,
  :func:`precision_recall_curve`, :func:`average_precision_score`: scikit-learn's names and
  results (same thresholds, ``drop_intermediate`` as its defaults), checked against it.
* One operating point: :func:`sensitivity_specificity` at a threshold (positive when
  ``score >= threshold``, scikit-learn's convention), and :func:`threshold_for_sensitivity`,
  the highest threshold that reaches a required sensitivity (chosen on validation data).
* Calibration, whether a probability of 0.8 comes true 8 times in 10:
  :func:`brier_score_loss`, :func:`calibration_curve` (scikit-learn's), and
  :func:`expected_calibration_error`, on the same bins; :func:`fit_temperature` fits the
  temperature ``T`` that minimises the NLL of ``logits / T`` (:func:`temperature_nll`).
* Class imbalance: :func:`binary_cross_entropy_with_logits` with ``pos_weight``, PyTorch's name
  and meaning, a fused :class:`BCEWithLogits` Function.

Single-class data: scikit-learn warns and returns nan (or an arbitrary curve); nnlearn raises a
``ValueError`` saying which class is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlearn.activations import sigmoid_values
from nnlearn.tensor import Function, Tensor

__all__ = ["roc_curve", "roc_auc_score", "precision_recall_curve", "average_precision_score"]
__all__ += ["sensitivity_specificity", "threshold_for_sensitivity"]  # an operating point
__all__ += ["brier_score_loss", "calibration_curve", "expected_calibration_error"]  # calibration
__all__ += ["temperature_nll", "fit_temperature"]
__all__ += ["BCEWithLogits", "binary_cross_entropy_with_logits"]  # class imbalance


# --- inputs, checked at the boundary -----------------------------------------------------------
def _labels(y_true: Any, where: str) -> np.ndarray:
    """``y_true`` as a 1-D float64 array of 0s and 1s (a column ``(N, 1)`` is flattened)."""
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{where}: y_true must be 1-D, one label per case; got shape {y.shape}")
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError(
            f"{where}: labels must be 0 or 1 (1 = the positive class, e.g. malignant); got "
            f"{np.unique(y)[:5]}. Map the classes to 0/1 first"
        )
    return y.astype(np.float64)


def _scores(y_score: Any, n: int, where: str, name: str = "y_score") -> np.ndarray:
    """``y_score`` as a finite 1-D float64 array of length ``n``."""
    s = np.asarray(y_score, dtype=np.float64)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.shape != (n,):
        raise ValueError(f"{where}: {name} has shape {s.shape} but y_true has {n} labels")
    if not np.isfinite(s).all():
        raise ValueError(f"{where}: {name} contains nan or inf")
    return s


def _probabilities(y_true: Any, y_prob: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(y_true, where)
    p = _scores(y_prob, len(y), where, "y_prob")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(
            f"{where}: y_prob must hold probabilities in [0, 1]; got {p.min():g} "
            f"to {p.max():g} (logits? apply the sigmoid first)"
        )
    return y, p


def _both_classes(y: np.ndarray, where: str) -> None:
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        missing = "positive (1)" if positives == 0 else "negative (0)"
        raise ValueError(
            f"{where}: y_true has no {missing} case, so {where} is undefined (scikit-learn "
            "warns and returns nan); evaluate on data with both classes (stratify the split)"
        )


# --- ranking: ROC and precision-recall ---------------------------------------------------------
def _counts_at_thresholds(y: np.ndarray, s: np.ndarray):
    """False and true positives at each distinct score, as threshold (positive: ``s >= t``).

    Sort the scores in decreasing order; ``tps[i]`` counts the positives among the cases
    scoring at least ``thresholds[i]``, and ``fps[i] = (cases so far) - tps[i]``. Tied scores
    share one threshold: only the last index of each tie counts. Shapes: (K,) for K distinct
    scores, thresholds decreasing.
    """
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last_of_tie]
    fps = 1 + last_of_tie - tps
    return fps, tps, s[last_of_tie]


def roc_curve(y_true: Any, y_score: Any, *, drop_intermediate: bool = True):
    """``fpr, tpr, thresholds`` as ``sklearn.metrics.roc_curve``: shapes (K + 1,) each.

    .. math:: \\mathrm{TPR}(t) = \\frac{\\#\\{y = 1, s \\ge t\\}}{\\#\\{y = 1\\}}, \\qquad
              \\mathrm{FPR}(t) = \\frac{\\#\\{y = 0, s \\ge t\\}}{\\#\\{y = 0\\}}

    at every distinct score t (decreasing), after ``thresholds[0] = inf`` (no case positive:
    the point (0, 0)). ``drop_intermediate`` drops thresholds on a straight piece of the
    curve (no corner there), as scikit-learn does; the area is unchanged.
    """
    y = _labels(y_true, "roc_curve")
    s = _scores(y_score, len(y), "roc_curve")
    _both_classes(y, "roc_curve")
    fps, tps, thresholds = _counts_at_thresholds(y, s)
    if drop_intermediate and len(fps) > 2:
        corner = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[corner], tps[corner], thresholds[corner]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thresholds]


def roc_auc_score(y_true: Any, y_score: Any) -> float:
    """The area under the ROC curve, by trapezoids (``sklearn.metrics.roc_auc_score``).

    It equals the probability that a random positive case scores above a random negative one,
    ties counting one half (the Mann-Whitney U statistic divided by P N).
    """
    fpr, tpr, _ = roc_curve(y_true, y_score)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def precision_recall_curve(y_true: Any, y_score: Any, *, drop_intermediate: bool = False):
    """``precision, recall, thresholds`` as ``sklearn.metrics.precision_recall_curve``.

    .. math:: \\mathrm{precision}(t) = \\frac{TP(t)}{TP(t) + FP(t)}, \\qquad
              \\mathrm{recall}(t) = \\frac{TP(t)}{P}

    at the distinct scores in *increasing* order (shape (K,)); precision and recall (K + 1,)
    end with the point (recall 0, precision 1), which has no threshold.
    """
    y = _labels(y_true, "precision_recall_curve")
    s = _scores(y_score, len(y), "precision_recall_curve")
    _both_classes(y, "precision_recall_curve")
    fps, tps, thresholds = _counts_at_thresholds(y, s)
    if drop_intermediate and len(fps) > 2:  # keep the ends of each run of equal recall
        ends = np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
        fps, tps, thresholds = fps[ends], tps[ends], thresholds[ends]
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision_score(y_true: Any, y_score: Any) -> float:
    """``sum_k (R_k - R_{k-1}) P_k``: precision weighted by each step of recall, no
    interpolation (``sklearn.metrics.average_precision_score``)."""
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


# --- one operating point -----------------------------------------------------------------------
def sensitivity_specificity(y_true: Any, y_score: Any, threshold: float) -> tuple[float, float]:
    """``(sensitivity, specificity)`` when a case is called positive if ``score >= threshold``.

    Sensitivity TP / P (the share of the sick that the test finds, the recall); specificity
    TN / N (the share of the healthy that it clears).
    """
    y = _labels(y_true, "sensitivity_specificity")
    called = _scores(y_score, len(y), "sensitivity_specificity") >= threshold
    _both_classes(y, "sensitivity_specificity")
    positive = y == 1
    return float(called[positive].mean()), float((~called[~positive]).mean())


def threshold_for_sensitivity(y_true: Any, y_score: Any, sensitivity: float) -> float:
    """The highest threshold ``t`` with ``sensitivity_specificity(y, s, t)[0] >= sensitivity``.

    The highest such threshold calls the fewest cases positive, so it has the best
    specificity among those that reach the required sensitivity. It is one of the scores.
    Choose it on validation data and report it on test data: chosen on the test set, the
    sensitivity it reaches there is optimistic.
    """
    if not 0 < sensitivity <= 1:
        raise ValueError(
            f"threshold_for_sensitivity: sensitivity must be in (0, 1], got {sensitivity}"
        )
    _, tpr, thresholds = roc_curve(y_true, y_score, drop_intermediate=False)
    return float(thresholds[np.argmax(tpr >= sensitivity)])  # tpr reaches 1 at the end


# --- calibration -------------------------------------------------------------------------------
def brier_score_loss(y_true: Any, y_proba: Any) -> float:
    """``mean((y - p)^2)``: the squared error of the probabilities (scikit-learn's, binary)."""
    y, p = _probabilities(y_true, y_proba, "brier_score_loss")
    return float(np.mean((y - p) ** 2))


def _bins(y: np.ndarray, p: np.ndarray, n_bins: int, strategy: str):
    """Per bin: the number of cases, the sum of their labels and of their probabilities.

    Edges ``e_0 = 0 < ... < e_B = 1``, equally spaced (``"uniform"``), or at the quantiles of
    ``p`` (``"quantile"``). Bin b holds the p in ``(e_b, e_{b+1}]`` (the first also p = 0):
    scikit-learn's ``calibration_curve`` binning. Shapes (B,).
    """
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError(f"n_bins must be a whole number >= 1, got {n_bins!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    which = np.searchsorted(edges[1:-1], p)
    count = np.bincount(which, minlength=n_bins)
    return count, np.bincount(which, y, n_bins), np.bincount(which, p, n_bins)


def calibration_curve(
    y_true: Any, y_prob: Any, *, n_bins: int = 5, strategy: str = "uniform"
) -> tuple[np.ndarray, np.ndarray]:
    """``prob_true, prob_pred`` as ``sklearn.calibration.calibration_curve``: per non-empty
    bin (see :func:`_bins`), the fraction of positives and the mean probability. A calibrated
    model has ``prob_true ~ prob_pred``: the reliability diagram plots one against the other."""
    y, p = _probabilities(y_true, y_prob, "calibration_curve")
    count, positives, probabilities = _bins(y, p, n_bins, strategy)
    kept = count > 0
    return positives[kept] / count[kept], probabilities[kept] / count[kept]


def expected_calibration_error(
    y_true: Any, y_prob: Any, *, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """The gap between the reliability diagram and its diagonal, weighted by the cases:

    .. math:: \\mathrm{ECE} = \\sum_b \\frac{n_b}{N} \\left| \\bar y_b - \\bar p_b \\right|
              = \\frac1N \\sum_b \\Big| \\sum_{i \\in b} (y_i - p_i) \\Big|

    over the bins of :func:`calibration_curve` (``n_bins`` equal widths on [0, 1], right
    edges included; empty bins add 0), with ``p`` the probability of the *positive* class.
    (The top-label ECE of Guo et al., 2017, bins max(p, 1 - p) instead; it differs.)
    """
    y, p = _probabilities(y_true, y_prob, "expected_calibration_error")
    _, positives, probabilities = _bins(y, p, n_bins, strategy)
    return float(np.abs(positives - probabilities).sum() / len(y))


# --- the weighted loss (class imbalance) -------------------------------------------------------
class BCEWithLogits(Function):
    def forward(self, z: np.ndarray, y: np.ndarray, pos_weight: Any = None) -> np.ndarray:
        """l = -[w y log s(z) + (1 - y) log(1 - s(z))] elementwise; s the sigmoid, w the
        ``pos_weight`` (1 when None), broadcast along the last axis as in PyTorch.

        Stably, as PyTorch: l = (1 - y) z + (1 + (w - 1) y) softplus(-z), with
        softplus(-z) = log(1 + e^{-z}) = max(-z, 0) + log(1 + e^{-|z|}).
        """
        w = 1.0 if pos_weight is None else np.asarray(pos_weight, dtype=z.dtype)
        self.z, self.y, self.scale = z, y, 1 + (w - 1) * y
        return (1 - y) * z + self.scale * (np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z))))

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, None]:
        """dl/dz = (1 - y) - (1 + (w - 1) y) s(-z); for w = 1 this is s(z) - y. Targets get no
        gradient."""
        return g * ((1 - self.y) - self.scale * sigmoid_values(-self.z)), None


def binary_cross_entropy_with_logits(
    input: Tensor, target: Any, weight: Any = None, reduction: str = "mean", pos_weight: Any = None
) -> Tensor:
    """``torch.nn.functional.binary_cross_entropy_with_logits``: logits ``input`` and targets in
    [0, 1] of one shape; ``pos_weight`` (broadcast along the last axis) multiplies the positive
    term, ``weight`` every term; ``reduction`` ``"mean"``, ``"sum"`` or ``"none"``.

    ``pos_weight = N_neg / N_pos`` weighs the positives as much, in total, as the negatives.
    For 0/1 targets that is Keras's ``class_weight={0: 1, 1: pos_weight}`` in ``fit``.
    """
    z = input if isinstance(input, Tensor) else Tensor(input)
    y = target if isinstance(target, Tensor) else Tensor(np.asarray(target), dtype=z.dtype)
    if y.shape != z.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target size {y.shape} must be the "
            f"same as input size {z.shape} (as in PyTorch)"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    losses = BCEWithLogits.apply(z, y, pos_weight=pos_weight)
    if weight is not None:
        losses = losses * np.asarray(weight, dtype=z.dtype)
    return losses if reduction == "none" else losses.sum() if reduction == "sum" else losses.mean()


# --- temperature scaling -----------------------------------------------------------------------
def temperature_nll(logits: Any, y_true: Any, temperature: Any) -> Tensor:
    """The mean negative log-likelihood of ``y_true`` under ``sigmoid(logits / T)``:

    .. math:: \\mathrm{NLL}(T) = -\\frac1N \\sum_i \\big[y_i \\log s(z_i / T)
              + (1 - y_i) \\log(1 - s(z_i / T))\\big]

    ``logits`` (N,), ``temperature`` a scalar; Tensors to differentiate (autograd).
    """
    z = logits if isinstance(logits, Tensor) else Tensor(np.asarray(logits))
    y = _labels(y_true.data if isinstance(y_true, Tensor) else y_true, "temperature_nll")
    return binary_cross_entropy_with_logits(z.reshape(y.shape) / temperature, y)


def fit_temperature(logits: Any, y_true: Any, tol: float = 1e-12) -> float:
    """The temperature ``T > 0`` that minimises :func:`temperature_nll` (Guo et al., 2017).

    Fit it on validation data, then report ``sigmoid(logits / T)``: dividing every logit by
    one T keeps their order (so the ROC curve), and fixes over- (T > 1) or under-confidence.

    The NLL is convex in the inverse temperature b = 1/T (a softplus of a linear function of
    b, plus a linear term), so its slope dNLL/db increases and has one root: found by
    bisection, each slope by nnlearn's autograd through ``T = 1 / b``. Raises if there is no
    root: when no case is on the wrong side of 0 (the logits separate the classes, and the
    NLL keeps falling as T -> 0), or when the slope at b = 0, mean((1/2 - y) z), is not
    negative (the logits rank the cases no better than chance: T -> inf).
    """
    y = _labels(y_true, "fit_temperature")
    z = Tensor(_scores(logits, len(y), "fit_temperature", "logits"))

    def slope(b: float) -> float:
        inverse = Tensor(np.array(b), requires_grad=True)
        temperature_nll(z, y, 1.0 / inverse).backward()
        return float(inverse.grad)

    if np.all((2 * y - 1) * z.data >= 0):  # no case on the wrong side of 0
        raise ValueError(
            "fit_temperature: the logits separate the classes perfectly; the NLL keeps "
            "falling as T -> 0"
        )
    if slope(1e-12) >= 0:
        raise ValueError(
            "fit_temperature: the logits rank the cases no better than chance; the NLL is "
            "smallest as T -> infinity"
        )
    low, high = 0.0, 1.0
    while slope(high) < 0:  # positive for a large b: a case on the wrong side then dominates
        low, high = high, 2 * high
    while high - low > tol * high:
        middle = (low + high) / 2
        low, high = (middle, high) if slope(middle) < 0 else (low, middle)
    return 2.0 / (low + high)
