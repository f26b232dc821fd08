"""What every benchmark in this folder shares: the thread limit, interleaved timing of blocks of
training steps, and the table and ``RATIO`` line that ``make bench`` collects."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch


def limit_threads(threads: int) -> None:
    """Give numpy's BLAS and torch ``threads`` threads.

    For BLAS through the environment, read when the library loads: the same limit set at run
    time by ``threadpoolctl`` left OpenBLAS 0.3.31 (SkylakeX kernels, on a 2-core VM) taking
    milliseconds now and then for the (32, 128) @ (128, 128)^T product of the digits MLP's
    backward pass, in the hand-written loop and in nnlearn alike. So the script starts itself
    again once, with the variables set.
    """
    variables = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if any(os.environ.get(name) != str(threads) for name in variables):
        env = {**os.environ, **dict.fromkeys(variables, str(threads))}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    torch.set_num_threads(threads)


def arguments(doc: str, rounds: int) -> argparse.Namespace:
    """A benchmark's options, ``--rounds`` (timed blocks of each contender) and ``--threads``
    (for every contender), read from the command line; the thread limit is applied."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=rounds, help="timed blocks of each")
    parser.add_argument("--threads", type=int, default=None, help="threads for both")
    args = parser.parse_args()
    if args.threads:
        limit_threads(args.threads)
    return args


Times = dict[str, tuple[list[float], list[float]]]  # name -> (wall seconds, CPU seconds) lists


def step_times(runs: list[tuple[str, Callable[[int], None]]], rounds: int, block: int) -> Times:
    """Alternate blocks of ``block`` steps of each contender (``run(start)`` takes steps
    ``start, start + 1, ...``), the order turning every round; per contender the wall-clock and
    CPU seconds per step of each timed block (round 0 is a warm-up)."""
    times: Times = {name: ([], []) for name, _ in runs}
    for round_ in range(rounds + 1):
        turn = round_ % len(runs)
        for name, run in runs[turn:] + runs[:turn]:
            wall, cpu = time.perf_counter(), time.process_time()
            run(round_ * block)
            if round_:
                times[name][0].append((time.perf_counter() - wall) / block)
                times[name][1].append((time.process_time() - cpu) / block)
    return times


def nnlearn_versus_torch(
    nnlearn_trainer: Callable, torch_trainer: Callable, batches, rounds: int, block: int
) -> Times:
    """:func:`step_times` of the two trainers a benchmark makes from the same batches."""
    runs = [("nnlearn", nnlearn_trainer(batches)), ("torch", torch_trainer(batches))]
    return step_times(runs, rounds, block)


def report(times: Times, case: str) -> float:
    """Print the medians (ms per step) of nnlearn and torch on both clocks, then the line
    ``RATIO <case> nnlearn/torch = <wall-clock ratio>``; return that ratio."""
    print(f"{'clock':>5}  {'nnlearn ms':>10} {'torch ms':>10}  {'nnlearn/torch':>13}")
    ratios = {}
    for clock, column in (("wall", 0), ("cpu", 1)):
        ours, theirs = (
            1e3 * statistics.median(times[name][column]) for name in ("nnlearn", "torch")
        )
        ratios[clock] = ours / theirs
        print(f"{clock:>5}  {ours:>10.3f} {theirs:>10.3f}  {ratios[clock]:>13.2f}")
    print(f"RATIO {case} nnlearn/torch = {ratios['wall']:.2f}")
    return ratios["wall"]
