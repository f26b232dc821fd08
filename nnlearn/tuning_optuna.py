"""Optuna with nnlearn (chapter 11): a study with a seeded TPE sampler, and pruning from ``fit``.

`Optuna <https://optuna.org>`_ proposes hyperparameters trial after trial. Its default sampler,
TPE (the Tree-structured Parzen Estimator), first samples at random, then splits the finished
trials into the good ones and the rest and proposes values where the density of the good ones
is high relative to the rest's. A **pruner** stops a trial early when its intermediate results
are worse than those of earlier trials at the same step (``MedianPruner``: below the median),
so bad settings cost a few epochs instead of a whole training.

:class:`PruningCallback` is Optuna's integration pattern for Keras (optuna-integration's
``KerasPruningCallback``: the same arguments and behaviour) as an nnlearn ``fit`` callback:
after every epoch it reports the monitored value with ``trial.report(value, step=epoch)`` and
raises ``optuna.TrialPruned`` when ``trial.should_prune()``; the exception leaves ``fit`` and
Optuna records the trial as pruned. :func:`create_study` makes a study whose sampler is seeded,
so a search repeats exactly.

Optuna is an optional extra (``pip install -e .[optuna]``), imported by these functions only.
"""

from __future__ import annotations

import warnings
from typing import Any

from nnlearn.training import Callback


def import_optuna() -> Any:
    """The ``optuna`` module, or an ImportError that says how to install it."""
    try:
        import optuna
    except ImportError as error:
        raise ImportError(
            "Optuna is an optional extra of nnlearn; install it with: pip install -e .[optuna] "
            "(or pip install optuna)"
        ) from error
    return optuna


class PruningCallback(Callback):
    """Report ``logs[monitor]`` to an Optuna ``trial`` after every ``interval`` epochs; raise
    ``optuna.TrialPruned`` when the trial's pruner says so.

    Args:
        trial: the ``optuna.Trial`` being run.
        monitor: a key of the epoch logs, e.g. ``"val_accuracy"`` or ``"val_loss"`` (the study's
            ``direction`` says whether higher is better).
        interval: report every ``interval`` epochs.
    """

    def __init__(self, trial: Any, monitor: str = "val_loss", interval: int = 1) -> None:
        self._optuna = import_optuna()
        self.trial, self.monitor, self.interval = trial, monitor, interval

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.interval != 0:
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"PruningCallback: {self.monitor!r} is not in the epoch logs {sorted(logs or {})}"
                " (val_... values need validation_data); the trial is not pruned",
                stacklevel=2,
            )
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise self._optuna.TrialPruned(f"trial pruned at epoch {epoch + 1}: {value:.4f}")


def create_study(
    direction: str = "maximize",
    seed: int = 0,
    n_startup_trials: int = 5,
    n_warmup_steps: int = 0,
    study_name: str | None = None,
) -> Any:
    """An in-memory ``optuna.Study`` with a TPE sampler seeded by ``seed`` and a
    ``MedianPruner``.

    Args:
        direction: ``"maximize"`` (an accuracy) or ``"minimize"`` (a loss).
        seed: the sampler's seed: the same objective gives the same trials.
        n_startup_trials: trials sampled at random before TPE models the results, and
            trials that finish before the pruner prunes any.
        n_warmup_steps: epochs of every trial that are never pruned.
        study_name: a name for the study.
    """
    optuna = import_optuna()
    return optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps
        ),
        study_name=study_name,
    )
