"""A scikit-learn estimator around an nnlearn network (chapter 11): ``SequentialClassifier``.

scikit-learn's searches (``GridSearchCV``, ``RandomizedSearchCV``, ``HalvingRandomSearchCV``),
its cross-validation and its pipelines work with any object that follows its estimator
contract. :class:`SequentialClassifier` follows it for a Keras-style multilayer network:

* ``__init__`` only stores its arguments, unchanged, under their own names; everything else
  happens in ``fit``. So ``get_params``/``set_params`` (inherited from ``BaseEstimator``) see
  every hyperparameter, and ``sklearn.base.clone`` makes a fresh, unfitted copy with the same
  settings, which is what a search does for every candidate and every fold.
* ``fit(X, y)`` checks the data as scikit-learn does (``validate_data``), learns ``classes_``
  (any labels: numbers or strings), builds a fresh :class:`~nnlearn.models.Sequential` and
  trains it; the fitted network is ``model_``, its History ``history_`` (``loss``,
  ``accuracy``, ``sparse_categorical_crossentropy`` and their ``val_`` values).
* ``predict_proba`` is ``model_.predict`` (the softmax's probabilities, columns in the order
  of ``classes_``), ``predict`` their argmax mapped back to the labels, and ``score`` the
  accuracy (``ClassifierMixin``'s).

The name is nnlearn's own (scikit-learn's ``MLPClassifier`` and Keras-wrappers' classifiers
mean other things). ``random_state`` is scikit-learn's name with scikit-learn's meaning: an
int gives the same network and the same batches at every ``fit``; ``None`` new ones each
time. The network draws its random numbers from a generator of its own, lent to nnlearn
while it is built and trained, so a fit never moves the learner's random stream.

scikit-learn is imported when this module is (it is not part of ``import nnlearn``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from nnlearn import layers, losses, optim, regularizers, seeding
from nnlearn.models import Sequential


class SequentialClassifier(ClassifierMixin, BaseEstimator):
    """A multilayer classifier (Dense layers, a softmax output) as a scikit-learn estimator.

    Args:
        hidden_units: the width of each hidden ``Dense`` layer, e.g. ``(64, 64)``; ``()`` is
            multinomial logistic regression.
        activation: the hidden layers' activation (a name of :mod:`nnlearn.activations`).
        optimizer: a Keras optimizer name (``"adam"``, ``"sgd"``, ``"rmsprop"``, ``"adamw"``,
            ``"adagrad"``), with Keras's defaults apart from the learning rate.
        learning_rate: the optimizer's learning rate.
        epochs, batch_size: as ``fit`` takes them.
        l2: the factor of ``kernel_regularizer=l2(l2)`` on every kernel (Keras's penalty
            ``l2 * sum(W**2)``); 0 for none.
        dropout: the rate of a ``Dropout`` layer after every hidden layer (chapter 09); 0 for
            none. It drops while ``fit`` trains; ``predict`` uses every unit.
        random_state: None, an int, or a ``numpy.random.RandomState`` (scikit-learn's meaning).
        dtype: the network's dtype; float64, as scikit-learn computes, by default.
        verbose: ``fit``'s verbosity (0 silent).

    Shapes: ``X`` (n_samples, n_features), ``y`` (n_samples,); ``predict_proba`` gives
    (n_samples, n_classes).
    """

    def __init__(
        self,
        hidden_units: tuple[int, ...] = (64,),
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        epochs: int = 20,
        batch_size: int = 32,
        l2: float = 0.0,
        dropout: float = 0.0,
        random_state: Any = 0,
        dtype: str = "float64",
        verbose: int = 0,
    ) -> None:
        self.hidden_units = hidden_units
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.dropout = dropout
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    def build_model(self, n_features: int, n_classes: int) -> Sequential:
        """The compiled, untrained network for these settings: ``Dense(units, activation)``
        for each hidden layer (each followed by ``Dropout(dropout)`` when ``dropout > 0``),
        then ``Dense(n_classes, "softmax")``.

        Its loss is the sparse categorical cross-entropy plus the L2 penalty (Keras reports
        the sum as ``loss`` and ``val_loss``); the metrics are the accuracy and the
        cross-entropy alone (``sparse_categorical_crossentropy``, the loss function used as a
        metric, as in Keras), the fair score for comparing settings with different ``l2``.
        """
        if not isinstance(self.optimizer, str):
            raise ValueError(
                f"SequentialClassifier: optimizer must be a name such as 'adam' (a search "
                f"clones it for every fit), got {self.optimizer!r}"
            )
        penalty = regularizers.l2(self.l2) if self.l2 else None
        widths = [*self.hidden_units, n_classes]
        stack = []
        for i, units in enumerate(widths):
            hidden = i < len(widths) - 1
            stack.append(
                layers.Dense(
                    units,
                    activation=self.activation if hidden else "softmax",
                    input_shape=(n_features,) if i == 0 else None,
                    kernel_regularizer=penalty,
                    dtype=self.dtype,
                )
            )
            if hidden and self.dropout:
                stack.append(layers.Dropout(self.dropout, dtype=self.dtype))
        optimizer = optim.get(self.optimizer)
        optimizer.lr = float(self.learning_rate)
        model = Sequential(stack)
        return model.compile(
            optimizer,
            "sparse_categorical_crossentropy",
            metrics=["accuracy", losses.sparse_categorical_crossentropy],
        )

    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any
    ) -> SequentialClassifier:
        """Train a fresh network on ``(X, y)``; returns ``self``.

        ``sample_weight`` (n_samples,) weighs each sample's loss, as Keras's ``fit`` does. The
        other ``fit_params`` go to :meth:`nnlearn.models.Sequential.fit` (e.g.
        ``callbacks=[...]``, or ``validation_data=(X_val, y_val)`` with labels like ``y``'s).
        """
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != (len(X),):
                raise ValueError(
                    f"sample_weight must have shape ({len(X)},), one weight per sample; got "
                    f"{sample_weight.shape}"
                )
            if not np.any(sample_weight > 0):
                raise ValueError("sample_weight: every weight is zero; nothing to learn from")
            fit_params["sample_weight"] = sample_weight
        weighted = np.unique(labels if sample_weight is None else labels[sample_weight > 0])
        if len(weighted) < 2:
            raise ValueError(
                "SequentialClassifier needs samples of at least 2 classes (with a positive "
                f"sample_weight); y has only one class: {self.classes_[weighted[0]]!r}"
            )
        if "validation_data" in fit_params:
            X_val, y_val = fit_params["validation_data"]
            fit_params["validation_data"] = (np.asarray(X_val), self._indices(y_val))
        with _nnlearn_draws_from(self.random_state):
            self.model_ = self.build_model(X.shape[1], len(self.classes_))
            self.history_ = self.model_.fit(
                X,
                labels,
                epochs=self.epochs,
                batch_size=self.batch_size,
                verbose=self.verbose,
                **fit_params,
            )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The network's probabilities, ``(n_samples, n_classes)``, columns as ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(X, batch_size=max(len(X), 1))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, as one of ``classes_``."""
        probabilities = self.predict_proba(X)  # first: it checks that fit has run
        return self.classes_[np.argmax(probabilities, axis=1)]

    def _indices(self, y: Any) -> np.ndarray:
        """Labels -> their positions in ``classes_`` (an error for a label never seen)."""
        y = np.asarray(y)
        positions = np.searchsorted(self.classes_, y).clip(0, len(self.classes_) - 1)
        unknown = self.classes_[positions] != y
        if np.any(unknown):
            raise ValueError(f"labels not seen in fit: {np.unique(y[unknown])}")
        return positions


@contextmanager
def _nnlearn_draws_from(random_state: Any) -> Iterator[None]:
    """Inside the block nnlearn's generator (:func:`nnlearn.rng`: initial weights, shuffles)
    draws from a generator seeded by ``random_state``; afterwards it is as it was."""
    if isinstance(random_state, (int, np.integer)):
        seed = int(random_state)
    else:  # None or a RandomState, as scikit-learn takes them
        seed = int(check_random_state(random_state).randint(2**31 - 1))
    with seeding.drawing_from(np.random.default_rng(seed)):
        yield
