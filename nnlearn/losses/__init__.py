"""Loss functions (chapter 04): how far the predictions are from the targets, as Keras 3 does it.

Keras names, Keras meanings (checked against Keras itself on its torch backend):

* The functions :func:`mean_squared_error`, :func:`mean_absolute_error`, :func:`huber`,
  :func:`binary_crossentropy`, :func:`categorical_crossentropy` and
  :func:`sparse_categorical_crossentropy` take ``(y_true, y_pred)`` and return **one loss per
  example**: they reduce over the last axis only (the class axis of the cross-entropies), so
  ``y_pred`` of shape ``(N, C)`` gives losses of shape ``(N,)``. Take ``.mean()`` for one number.
  They live in :mod:`nnlearn.losses.functions`, with the Functions behind them.
* The classes (:class:`MeanSquaredError`, ..., :class:`SparseCategoricalCrossentropy`) hold the
  options; ``loss(y_true, y_pred, sample_weight=None)`` returns one number, Keras's default
  reduction ``"sum_over_batch_size"``: the sum of the (weighted) per-example losses divided by
  how many there are. A subclass of :class:`Loss` that only defines ``call(y_true, y_pred)``
  works as in Keras. :func:`get` looks a loss up as ``keras.losses.get`` does, and
  :func:`as_loss` makes what ``compile(loss=...)`` trains with. They live in
  :mod:`nnlearn.losses.classes`.
* Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` (Keras's ``epsilon()``, 1e-7) before
  their log is taken; the categorical cross-entropies first divide each row by its sum.

The softmax + cross-entropy fusion lives in one place, ``_recorded_logits`` of
:mod:`nnlearn.losses.functions`: :func:`nnlearn.activations.softmax` records its input on its
output as ``_softmax_logits`` (and :func:`~nnlearn.activations.sigmoid` as
``_sigmoid_logits``), like Keras 3's ``_keras_logits``. Given probabilities that carry their
logits, the cross-entropies compute from the logits with the fused, stable
:class:`SoftmaxCrossEntropy` (or :class:`BCEFromLogits`): the same value as the clipped formula
wherever no probability is clipped, a finite loss however confident the model, and the simple
gradient ``(p - t) / N`` on the logits. So ``loss(y_true, model(x))`` on a softmax output is
stable, with no special path for training.
"""

from nnlearn.losses.classes import (
    CLASSES,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    LossFunctionWrapper,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    as_loss,
    get,
)
from nnlearn.losses.functions import (
    EPSILON,
    FUNCTIONS,
    BCEFromLogits,
    BCEFromProbabilities,
    Clip,
    HuberError,
    SoftmaxCrossEntropy,
    binary_crossentropy,
    categorical_crossentropy,
    huber,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_crossentropy,
    squeeze_or_expand_to_same_rank,
)

__all__ = [
    "CLASSES",
    "EPSILON",
    "FUNCTIONS",
    "BCEFromLogits",
    "BCEFromProbabilities",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Clip",
    "Huber",
    "HuberError",
    "Loss",
    "LossFunctionWrapper",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SoftmaxCrossEntropy",
    "SparseCategoricalCrossentropy",
    "as_loss",
    "binary_crossentropy",
    "categorical_crossentropy",
    "get",
    "huber",
    "mean_absolute_error",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
    "squeeze_or_expand_to_same_rank",
]
