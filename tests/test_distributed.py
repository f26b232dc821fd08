"""Chapter 20: data-parallel training on torch.distributed, run for real with torchrun.

This file is also the workers' script: the tests start it with
``torchrun --standalone --nproc_per_node=2 tests/test_distributed.py JOB OUT`` (two processes on
this machine, gloo over 127.0.0.1, one thread each). Each worker's ``import torch`` costs
seconds, so there are two jobs. In the ``equal`` job each worker writes what it computed to
``OUT/rank<r>.npz``, checked here against references computed without any process group
(``model.fit`` on the full batches in one process, float64; the closed-form sum for the ring
all-reduce); then training goes on and rank 1 is killed mid-run, so the job must fail with
torchrun's report. In the ``hangs`` job rank 1 stops answering instead, and rank 0's collective
must time out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnlearn as nl

pytestmark = pytest.mark.chapter20

WORLD = 2
EXAMPLES, FEATURES, CLASSES = 48, 5, 3
EVEN = {"batch_size": 16, "epochs": 2}  # every global batch splits 8 + 8
UNEVEN = {"batch_size": 11, "epochs": 2}  # batches of 11 (6 + 5) and a last one of 4 (2 + 2)
RING_SHAPE = (3, 5)  # 15 numbers: chunks of 8 and 7
STOP_AT_STEP = 2  # rank 1 dies (or stops answering) before this training step
TIMEOUT_S = 5  # the hangs job's collective timeout (init_process_group(timeout=...))
JOB_LIMIT_S = 120  # no job may hang the test suite: the subprocess is killed after this


def training_data() -> tuple[np.ndarray, np.ndarray]:
    """48 examples of 5 features and 3 classes, the same in every process."""
    x = np.random.default_rng(7).normal(size=(EXAMPLES, FEATURES))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.5)
    return x, y


def make_model(optimizer: str = "adam", l2: bool = False):
    """A float64 classifier with initial weights drawn after seed_everything(0)."""
    nl.seed_everything(0)
    model = nl.Sequential(
        [
            nl.layers.Dense(
                8,
                activation="tanh",
                input_shape=(FEATURES,),
                kernel_regularizer="l2" if l2 else None,
                dtype=np.float64,
            ),
            nl.layers.Dense(CLASSES, activation="softmax", dtype=np.float64),
        ]
    )
    chosen = nl.optim.Adam(lr=0.05) if optimizer == "adam" else nl.optim.SGD(lr=0.2, momentum=0.9)
    return model.compile(optimizer=chosen, loss="sparse_categorical_crossentropy")


def ring_input(rank: int) -> np.ndarray:
    return np.random.default_rng(100 + rank).normal(size=RING_SHAPE)


# --- the workers (run by torchrun, not by pytest) ---------------------------------------------
def equal_job(rank: int, out: Path) -> None:
    """Everything the equality tests check, computed by one worker of the two; then rank 1 is
    killed mid-run, for the failure test."""
    import copy

    import torch
    import torch.distributed as dist

    from nnlearn import distributed
    from nnlearn.parity import torch_twin, twin_loss, twin_optimizer, twin_parameters

    results = {}
    ring, reference = torch.from_numpy(ring_input(rank)), torch.from_numpy(ring_input(rank))
    distributed.ring_all_reduce(ring)
    dist.all_reduce(reference)
    results["ring"], results["all_reduce"] = ring.numpy(), reference.numpy()

    x, y = training_data()
    model = make_model()
    orders = copy.deepcopy(nl.rng())  # the generator fit_data_parallel draws from, as it is now
    results["even_loss"] = distributed.fit_data_parallel(model, x, y, **EVEN)["loss"]
    results |= {f"even {name}": p.data for name, p in model.named_parameters()}

    twin_model = make_model()  # the same initial weights
    twin = distributed.fit_ddp(
        torch_twin(twin_model),
        x,
        y,
        loss_fn=twin_loss(twin_model.loss),
        optimizer=lambda params: twin_optimizer(twin_model.optimizer, params),
        rng=orders,
        **EVEN,
    )
    results |= {f"ddp {name}": value for name, value in twin_parameters(twin).items()}

    model = make_model("sgd", l2=True)
    if rank == 1:  # a different start on rank 1: fit_data_parallel takes rank 0's weights, order
        nl.seed_everything(1)
        model.set_weights([w * 3 for w in model.get_weights()])
    results["uneven_loss"] = distributed.fit_data_parallel(model, x, y, **UNEVEN)["loss"]
    results |= {f"uneven {name}": p.data for name, p in model.named_parameters()}

    # The first global batch of UNEVEN, sharded 6 + 5: its gradient averaged by shard size
    # (data_parallel_step's) and plainly (DistributedDataParallel's)
    model = make_model()
    x_shard = distributed.shard(x[: UNEVEN["batch_size"]], rank, WORLD)
    y_shard = distributed.shard(y[: UNEVEN["batch_size"]], rank, WORLD)
    model.loss(y_shard, model(x_shard, training=True)).backward()
    grads = [p.grad for p in model.trainable_weights]
    results["weighted_grads"] = distributed.all_reduce_mean(grads, len(x_shard))[0]
    results["plain_grads"] = distributed.all_reduce_mean(grads)[0]
    np.savez(out / f"rank{rank}.npz", **results)
    dist.barrier()  # both files are written before rank 1 dies
    train_until_lost(rank, "killed")


def train_until_lost(rank: int, how: str) -> None:
    """Training steps until rank 1 stops at STOP_AT_STEP: it dies (SIGKILL, as an out-of-memory
    kill would) or hangs (it never joins the next collective)."""
    import signal

    from nnlearn import distributed

    x, y = training_data()
    model = make_model()
    for step in range(10):
        if rank == 1 and step == STOP_AT_STEP:
            if how == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(JOB_LIMIT_S)
        distributed.data_parallel_step(model, *(distributed.shard(a, rank, WORLD) for a in (x, y)))


def worker(job: str, out: str) -> None:
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    # The equal job's ranks may wait long for each other (DistributedDataParallel's first use
    # imports much of torch), so its timeout is generous; the hangs job's is TIMEOUT_S.
    timeout = timedelta(seconds=TIMEOUT_S if job == "hangs" else 60)
    dist.init_process_group("gloo", timeout=timeout)
    if job == "equal":
        equal_job(dist.get_rank(), Path(out))
    else:
        train_until_lost(dist.get_rank(), job)


# --- the tests ---------------------------------------------------------------------------------
def torchrun(job: str, out: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run this file's ``job`` with torchrun on two processes; its output and its seconds."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # gloo's connections over the loopback interface (127.0.0.1), whatever the host name resolves to
    env.setdefault("GLOO_SOCKET_IFNAME", "lo0" if sys.platform == "darwin" else "lo")
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += [f"--nproc_per_node={WORLD}", __file__, job, str(out)]
    start = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=JOB_LIMIT_S, cwd=out
    )
    return result, time.perf_counter() - start


@pytest.fixture(scope="module")
def equal_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, float, Path]:
    out = tmp_path_factory.mktemp("data_parallel")
    return (*torchrun("equal", out), out)


@pytest.fixture(scope="module")
def equal_results(equal_run) -> list[dict[str, np.ndarray]]:
    result, _, out = equal_run
    files = [out / f"rank{rank}.npz" for rank in range(WORLD)]
    assert all(f.exists() for f in files), result.stdout + result.stderr
    return [dict(np.load(f)) for f in files]


def fit_in_one_process(settings: dict, **model_options) -> tuple[dict, list[float]]:
    x, y = training_data()
    model = make_model(**model_options)
    history = model.fit(x, y, shuffle=True, verbose=0, **settings)
    return {name: p.data for name, p in model.named_parameters()}, history.history["loss"]


def test_ring_all_reduce_matches_all_reduce_and_the_sum(equal_results):
    expected = ring_input(0) + ring_input(1)
    for results in equal_results:
        np.testing.assert_allclose(results["all_reduce"], expected, rtol=1e-15, atol=0)
        np.testing.assert_allclose(results["ring"], results["all_reduce"], rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "case, settings, options",
    [("even", EVEN, {}), ("uneven", UNEVEN, {"optimizer": "sgd", "l2": True})],
)
def test_data_parallel_fit_equals_fit_on_full_batches(equal_results, case, settings, options):
    weights, losses = fit_in_one_process(settings, **options)
    for results in equal_results:  # both replicas hold the same weights
        for name, value in weights.items():
            np.testing.assert_allclose(results[f"{case} {name}"], value, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(results[f"{case}_loss"], losses, rtol=1e-10)


def test_distributed_data_parallel_twin_agrees(equal_results):
    for results in equal_results:
        for name in (key.removeprefix("ddp ") for key in results if key.startswith("ddp ")):
            np.testing.assert_allclose(
                results[f"ddp {name}"], results[f"even {name}"], rtol=1e-7, atol=1e-9
            )


def test_uneven_shards_need_the_weighted_mean(equal_results):
    """The full batch's gradient, here computed in one process: the mean weighted by shard size
    gives it, the plain mean (what DistributedDataParallel computes) does not."""
    x, y = training_data()
    model = make_model()
    batch = UNEVEN["batch_size"]
    model.loss(y[:batch], model(x[:batch], training=True)).backward()
    full = model.trainable_weights[0].grad
    for results in equal_results:
        np.testing.assert_allclose(results["weighted_grads"], full, rtol=1e-12, atol=1e-14)
        assert np.abs(results["plain_grads"] - full).max() > 1e-4


def test_shards_partition_each_batch_and_refuse_one_too_small():
    from nnlearn import distributed

    batch = np.arange(11)
    shards = [distributed.shard(batch, rank, 3) for rank in range(3)]
    np.testing.assert_array_equal(np.concatenate(shards), batch)  # every example once, in order
    assert [len(s) for s in shards] == [4, 4, 3]
    with pytest.raises(ValueError, match="at least 3"):
        distributed.shard(batch[:2], 0, 3)


def test_without_a_process_group_the_error_says_how_to_start_one():
    from nnlearn import distributed

    with pytest.raises(RuntimeError, match="init_process_group.*torchrun"):
        distributed.all_reduce_mean([np.ones(3)])


def failure_report(result: subprocess.CompletedProcess, seconds: float) -> str:
    """torchrun's report of a failed job (ChildFailedError: a block per failed rank)."""
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "ChildFailedError" in output, output
    assert seconds < 60, f"the job took {seconds:.0f} s to fail"
    return output[output.index("ChildFailedError") :]


def test_a_killed_worker_fails_the_job(equal_run):
    """Rank 1 is killed mid-run: torchrun sees it and stops the job. Rank 1 is usually the root
    cause; rank 0, whose connection to it was reset, may fail in the same second and be named
    first, so the test looks for rank 1's block anywhere in the report."""
    result, seconds, _ = equal_run
    report = failure_report(result, seconds)
    killed = r"rank\s*:\s*1 \(local_rank: 1\)\s+exitcode\s*:\s*-9 .*\(SIGKILL\)"
    assert re.search(killed, report), report


def test_a_hung_worker_times_out_the_collective_and_fails_the_job(tmp_path):
    """Rank 1 stops answering: rank 0's collective times out after TIMEOUT_S and raises, and
    torchrun reports rank 0's error as the root cause (the worker is decorated with @record)."""
    report = failure_report(*torchrun("hangs", tmp_path))
    expected = rf"Root Cause.*?rank\s*:\s*0 .*?Timed out waiting {TIMEOUT_S * 1000}ms"
    assert re.search(expected, report, re.DOTALL), report


if __name__ == "__main__":  # a worker, started by torchrun
    from torch.distributed.elastic.multiprocessing.errors import record

    record(worker)(*sys.argv[1:])
