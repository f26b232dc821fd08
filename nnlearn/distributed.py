r"""Data-parallel training (chapter 20): nnlearn models trained by several processes at once.

nnlearn does not build its own distributed engine: it uses PyTorch's, ``torch.distributed``,
imported inside the functions that need it (``import nnlearn.distributed`` imports numpy
only). A job is several processes, each started by ``torchrun``, each with a **rank**
``0 .. p-1`` in a **world** of ``p`` processes; they meet through
``torch.distributed.init_process_group("gloo")`` (gloo: the CPU backend, over TCP) and then
exchange tensors: point to point (``send``/``recv``) or all together (collectives such as
``all_reduce``).

**Data parallelism.** Every process holds the whole model. Each global mini-batch of ``B``
examples is split into ``p`` shards (:func:`shard`); process ``r`` computes the loss and the
gradients on its shard of ``n_r`` examples, the processes average their gradients with one
``all_reduce`` and every one takes the same optimizer step, so the models stay identical. For
a mean loss :math:`L = \frac1B\sum_i \ell_i` the full batch's gradient is the shards' gradients
weighted by their sizes,

.. math::

    \nabla L = \frac1B \sum_{i=1}^{B} \nabla \ell_i
             = \sum_{r=0}^{p-1} \frac{n_r}{B} \underbrace{\frac{1}{n_r}
               \sum_{i \in \mathrm{shard}_r} \nabla \ell_i}_{\nabla L_r},

so data-parallel training computes what one process computes on the whole batch (up to the
rounding of a sum taken in another order). With equal shards the weights are ``1/p``, the
plain mean (what ``DistributedDataParallel`` computes). It does not hold where an example's
loss depends on the others in its batch: BatchNormalization's batch statistics are each
shard's own.

Here: :func:`shard`, :func:`all_reduce_mean`, :func:`broadcast_parameters`,
:func:`ring_all_reduce` (the algorithm behind ``all_reduce``, by hand over ``send``/``recv``),
:func:`data_parallel_step` and :func:`fit_data_parallel` for a compiled
:class:`~nnlearn.models.Sequential`, and :func:`fit_ddp`, the same loop for a torch module
under ``DistributedDataParallel`` (the torch twin the chapter compares with).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import data
from nnlearn.seeding import rng as nnlearn_rng

__all__ = [
    "all_reduce_mean",
    "broadcast_parameters",
    "data_parallel_step",
    "fit_data_parallel",
    "fit_ddp",
    "ring_all_reduce",
    "shard",
]


def _dist() -> Any:
    """``torch.distributed``, with a clear error when no process group is running."""
    import torch.distributed as dist

    if not dist.is_initialized():
        raise RuntimeError(
            "no process group: call torch.distributed.init_process_group('gloo') first, in a "
            "script started with torchrun --standalone --nproc_per_node=2 script.py"
        )
    return dist


def shard(array: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Process ``rank``'s part of ``array``: the ``rank``-th of ``world_size`` contiguous slices
    along the first axis, as ``np.array_split`` cuts it (sizes differ by at most one).

    Shapes: ``(B, ...)`` -> ``(n_rank, ...)`` with ``n_rank`` = ``B // p`` or ``B // p + 1``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"shard: rank {rank} is not in 0 .. {world_size - 1}")
    if len(array) < world_size:
        raise ValueError(
            f"shard: a batch of {len(array)} examples cannot give each of {world_size} "
            f"processes at least one; choose batch_size (and the data's size) so that every "
            f"batch, the last one included, has at least {world_size} examples"
        )
    return np.array_split(array, world_size)[rank]


def all_reduce_mean(arrays: Sequence[np.ndarray], weight: float = 1.0) -> list[np.ndarray]:
    r"""The weighted mean over all processes of each array,
    :math:`\bar a = \sum_r w_r a_r / \sum_r w_r`, every process getting the same result.

    One ``all_reduce`` (a sum) of one flat buffer carries all the arrays and the weight
    (``DistributedDataParallel`` also sends its gradients in a few large buckets: each message
    costs a fixed latency). ``weight=1`` everywhere gives the plain mean; the examples in each
    process's shard give the full batch's mean (the module's docstring).
    """
    import torch

    dist = _dist()
    arrays = [np.asarray(a) for a in arrays]
    dtype = np.result_type(*arrays)
    flat = np.concatenate([(a * weight).ravel() for a in arrays] + [np.array([weight])])
    buffer = torch.from_numpy(flat.astype(dtype))
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    total = buffer.numpy()
    means, start = [], 0
    for a in arrays:
        means.append((total[start : start + a.size] / total[-1]).reshape(a.shape).astype(a.dtype))
        start += a.size
    return means


def broadcast_parameters(model: Any, src: int = 0) -> None:
    """Overwrite every process's weights with process ``src``'s (as ``DistributedDataParallel``
    does when it wraps a module), so all replicas start from the same point."""
    import torch

    dist = _dist()
    weights = model.weights
    buffer = torch.from_numpy(np.concatenate([w.data.ravel() for w in weights]))
    dist.broadcast(buffer, src=src)
    start = 0
    for w in weights:
        w.data[...] = buffer.numpy()[start : start + w.data.size].reshape(w.data.shape)
        start += w.data.size


def ring_all_reduce(tensor: Any) -> None:
    r"""Sum ``tensor`` over all processes, in place, as ``torch.distributed.all_reduce`` does with
    ``op=SUM``, by the **ring algorithm** over point-to-point ``isend``/``recv``.

    The ``p`` processes stand in a ring: each sends to its right neighbour ``r + 1`` and receives
    from its left one ``r - 1`` (mod ``p``). The tensor, flattened to ``N`` numbers, is cut
    into ``p`` chunks of about ``N/p``.

    1. **Reduce-scatter**, ``p - 1`` steps: at step ``s`` process ``r`` sends chunk
       ``(r - s) mod p`` and adds the chunk ``(r - s - 1) mod p`` it receives into its own.
       Each chunk travels once round the ring collecting one term per process, so afterwards
       process ``r`` holds the complete sum of chunk ``(r + 1) mod p``.
    2. **All-gather**, ``p - 1`` steps: at step ``s`` process ``r`` sends chunk
       ``(r + 1 - s) mod p`` (complete) and stores the chunk ``(r - s) mod p`` it receives.

    Cost: each process sends (and receives) ``2(p - 1)`` messages of ``N/p`` numbers,
    :math:`2\frac{p-1}{p} N` numbers in all: less than ``2N`` however many processes there are,
    and every link of the ring busy at once. The naive algorithm (everyone sends to process 0,
    which adds and sends the sum back) makes process 0 receive and send :math:`(p-1)N`
    numbers, a bottleneck that grows with ``p``. With a latency :math:`\alpha` per message and
    :math:`\beta` seconds per number, the ring takes about
    :math:`2(p-1)\alpha + 2\frac{p-1}{p}N\beta`.
    """
    import torch

    dist = _dist()
    p, r = dist.get_world_size(), dist.get_rank()
    if not tensor.is_contiguous():
        raise ValueError("ring_all_reduce: the tensor must be contiguous (call .contiguous())")
    chunks = torch.tensor_split(tensor.view(-1), p)  # views: updating a chunk updates tensor
    right, left = (r + 1) % p, (r - 1) % p

    def exchange(send: int, receive: int) -> torch.Tensor:
        # isend, not send: with every process sending first, a blocking send could wait
        # forever for a receive its neighbour has not posted yet.
        sending = dist.isend(chunks[send], dst=right)
        incoming = torch.empty_like(chunks[receive])
        dist.recv(incoming, src=left)
        sending.wait()
        return incoming

    for s in range(p - 1):  # reduce-scatter
        receive = (r - s - 1) % p
        chunks[receive].add_(exchange((r - s) % p, receive))
    for s in range(p - 1):  # all-gather
        receive = (r - s) % p
        chunks[receive].copy_(exchange((r + 1 - s) % p, receive))


def data_parallel_step(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """One training step of a compiled model on this process's shard ``(x, y)``: forward, loss
    (with the weights' penalties, as ``fit``), backward, the gradients averaged over the
    processes weighted by their shard sizes, then the optimizer's step.

    Returns the loss of the whole global batch (the shards' losses weighted the same way), the
    number ``fit`` would report for that batch. Every process must call it at the same step.
    """
    y_pred = model(x, training=True)
    loss = model.loss(y, y_pred)
    for penalty in model.losses:  # as fit adds them: each process adds the same penalties
        loss = loss + penalty
    model.optimizer.zero_grad()
    loss.backward()
    params = [p for p in model.trainable_weights if p.grad is not None]
    *grads, mean_loss = all_reduce_mean([p.grad for p in params] + [loss.data], len(x))
    for p, grad in zip(params, grads, strict=True):
        p.grad = grad
    model.optimizer.step()
    return float(mean_loss)


def _global_batches(x, y, batch_size: int, shuffle: bool, rng: np.random.Generator):
    """This process's shards of the global mini-batches of one pass, in process 0's order.

    Every process draws from its own generator (keeping the draws in step), then takes process
    0's order: with different orders, some examples would be seen twice and others never.
    """
    import torch

    dist = _dist()
    if shuffle:
        order = torch.from_numpy(rng.permutation(len(x)))
        dist.broadcast(order, src=0)
        x, y = x[order.numpy()], y[order.numpy()]
    rank, world = dist.get_rank(), dist.get_world_size()
    for x_batch, y_batch in data.batches(x, y, batch_size, shuffle=False):
        yield shard(x_batch, rank, world), shard(y_batch, rank, world), len(x_batch)


def fit_data_parallel(
    model: Any, x: Any, y: Any, batch_size: int = 32, epochs: int = 1, shuffle: bool = True
) -> dict[str, list[float]]:
    """Keras's ``model.fit(x, y, batch_size, epochs, shuffle)`` run by every process of the job:
    the same global batches (drawn from nnlearn's generator, :func:`nnlearn.seed_everything`, as
    ``fit`` draws them), each process stepping on its shard (:func:`data_parallel_step`).

    Every process passes the whole ``x`` and ``y``; process 0's weights and order are used
    (:func:`broadcast_parameters`), so the result is what ``model.fit`` computes in one
    process from process 0's state. Returns ``{"loss": [...]}``, each epoch's mean loss as
    ``fit``'s History has it.
    """
    if model.loss is None or model.optimizer is None:
        raise RuntimeError("fit_data_parallel: compile the model first, e.g. compile('sgd', 'mse')")
    x = np.asarray(x, dtype=model.dtype)
    y = np.asarray(y)
    if not model.built:
        model.build((None, *x.shape[1:]))
    model.optimizer.add_params(model.parameters())
    broadcast_parameters(model)
    history: dict[str, list[float]] = {"loss": []}
    for _ in range(epochs):
        total = 0.0
        for x_shard, y_shard, size in _global_batches(x, y, batch_size, shuffle, nnlearn_rng()):
            total += data_parallel_step(model, x_shard, y_shard) * size
        history["loss"].append(total / len(x))
    return history


def fit_ddp(
    module: Any,
    x: np.ndarray,
    y: np.ndarray,
    loss_fn: Callable[[Any, Any], Any],
    optimizer: Callable[[Any], Any],
    batch_size: int = 32,
    epochs: int = 1,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
) -> Any:
    """Train a torch ``module`` with PyTorch's ``DistributedDataParallel`` on the batches and
    shards :func:`fit_data_parallel` uses, and return the module (unwrapped).

    Args:
        module: a torch module on the CPU (e.g. ``nnlearn.parity.torch_twin(model)``).
        x, y: the whole training data, on every process.
        loss_fn: ``loss_fn(prediction, target)``, a mean loss (e.g. ``twin_loss(model.loss)``).
        optimizer: a function of the wrapped module's parameters returning a torch optimizer.
        rng: the generator the orders are drawn from (default: nnlearn's); to get
            ``fit_data_parallel``'s, pass a copy of it taken before that run.

    DDP broadcasts process 0's weights when it wraps the module and, during ``backward``,
    all-reduces the gradients and divides them by the world size: the plain mean, which is the
    full batch's gradient only when the shards are equal.
    """
    import torch
    from torch.nn.parallel import DistributedDataParallel

    _dist()
    wrapped = DistributedDataParallel(module)
    torch_optimizer = optimizer(wrapped.parameters())
    like = next(module.parameters())
    x = np.asarray(x)
    integer_targets = np.issubdtype(np.asarray(y).dtype, np.integer)
    for _ in range(epochs):
        batches = _global_batches(x, np.asarray(y), batch_size, shuffle, rng or nnlearn_rng())
        for x_shard, y_shard, _size in batches:
            target = torch.as_tensor(y_shard, dtype=torch.int64 if integer_targets else like.dtype)
            loss = loss_fn(wrapped(torch.as_tensor(x_shard, dtype=like.dtype)), target)
            torch_optimizer.zero_grad()
            loss.backward()  # DDP's hooks all-reduce the gradients here
            torch_optimizer.step()
    return wrapped.module
