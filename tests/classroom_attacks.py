"""Hostile submissions of a1_neurons, one attack each (issue 13; tests/test_classroom_attacks.py).

Each is the reference solution with one function changed: it attacks, then returns the right
answer only where the attack's outcome says so, so the score shows what happened inside the
sandbox. ``escape``, ``snoop`` and ``network`` return the right answer only if every attempt
failed (full marks: the sandbox held; a wrong answer otherwise). ``forkbomb``, ``memhog`` and
``bigfile`` let the limit's error propagate, as an unsuspecting student's code would (that part
is lost, the others are graded); without the limit they would finish and earn it. ``exploit``
is the issue's: the checks rebound and monkeypatched, every function returning x.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The exploit: rebind the notebook's checks, make numpy's and nnlearn's asserts no-ops.
TAMPER = """import numpy as np
import nnlearn.parity

check_activation = lambda *args, **kwargs: None
numeric_check = lambda *args, **kwargs: None
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
nnlearn.parity.Report.assert_ok = lambda self: None

"""
TAMPER_FLAGS = (
    "rebinds-instructor-name:check_activation",
    "rebinds-instructor-name:numeric_check",
    "sets-module-attribute:np.testing.assert_allclose",
    "sets-module-attribute:np.testing.assert_array_equal",
    "sets-module-attribute:nnlearn.parity.Report.assert_ok",
)


@dataclass(frozen=True)
class Attack:
    cell: str  # grade id of the solution cell changed
    old: str  # text of the reference solution (or of the released stub, for "exploit")...
    new: str  # ...replaced by this
    loses: tuple[str, ...]  # grade ids of the test cells that must score zero
    flags: tuple[str, ...]  # flags grades.csv must list for it
    start: str = "reference"  # "blank": the released notebook, every stub returning x


def attacks(course: Path, repo: Path, port: int, token: str) -> dict[str, Attack]:
    """The hostile students. course: the graded course; repo: the checkout (read-only in the
    sandbox); port: a port listening on the grader's loopback; token: unique file names."""
    escapes = [course / f"escaped-{token}.txt", repo / f"escaped-{token}.txt"]
    escapes.append(Path.home() / f"escaped-{token}.txt")
    secrets = [
        course / "gradebook.db",
        course / "submitted" / "exploit" / "a1_neurons" / "a1_neurons.ipynb",
        course / "source" / "a1_neurons" / "a1_neurons.ipynb",
        repo / "assignments" / "source" / "a1_neurons" / "a1_neurons.ipynb",
    ]
    relu = "    return np.maximum(x, 0.0)\n"
    return {
        "exploit": Attack("neuron", "def neuron", TAMPER + "def neuron", (), TAMPER_FLAGS, "blank"),
        "honest_tamper": Attack("neuron", "def neuron", TAMPER + "def neuron", (), TAMPER_FLAGS),
        "escape": Attack(
            "relu",
            relu,
            f"    for target in {[str(p) for p in escapes]!r}:\n"
            "        try:\n"
            "            with open(target, 'w') as file:\n"
            "                file.write('escaped')\n"
            "        except OSError:\n"
            "            continue\n"
            "        return x  # the write went through: no marks\n" + relu,
            (),
            ("path-outside-folder:" + str(escapes[0]),),
        ),
        "snoop": Attack(
            "leaky_relu",
            "    return np.where(x > 0, x, negative_slope * x)\n",
            f"    for secret in {[str(p) for p in secrets]!r}:\n"
            "        try:\n"
            "            with open(secret, 'rb') as file:\n"
            "                file.read(1)\n"
            "        except OSError:\n"
            "            continue\n"
            "        return x  # it could read it: no marks\n"
            "    return np.where(x > 0, x, negative_slope * x)\n",
            (),
            ("path-outside-folder:" + str(secrets[0]),),
        ),
        "network": Attack(
            "sigmoid",
            "    e = np.exp(-np.abs(x))",
            "    import socket\n"
            "\n"
            "    try:\n"
            f"        socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
            "        return x  # connected: no marks\n"
            "    except OSError:\n"
            "        pass\n"
            "    e = np.exp(-np.abs(x))",
            (),
            ("imports:socket",),
        ),
        "forkbomb": Attack(
            "tanh",
            "    return np.tanh(x)\n",
            "    import os\n"
            "    import time\n"
            "\n"
            "    for _ in range(500):  # bounded, in case the limit did not hold\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(3)\n"
            "            os._exit(0)\n"
            "    return np.tanh(x)\n",
            ("test_tanh",),
            ("uses:os.fork", "limit:processes"),
        ),
        "memhog": Attack(
            "softplus",
            "    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))\n",
            "    hog = np.ones(6 * 2**30 // 8)  # 6 GiB, above the 4 GiB limit\n"
            "    del hog\n"
            "    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))\n",
            ("test_softplus",),
            ("limit:memory",),
        ),
        "bigfile": Attack(
            "leaky_relu",
            "    return np.where(x > 0, x, negative_slope * x)\n",
            "    with open('big.bin', 'wb') as file:\n"
            "        for _ in range(1024):  # 1 GiB, above the 64 MiB limit\n"
            "            file.write(bytes(2**20))\n"
            "    return np.where(x > 0, x, negative_slope * x)\n",
            ("test_leaky_relu",),
            ("limit:file-size",),
        ),
        "exit": Attack(
            "neuron",
            "    return activation(x @ w + b)",
            "    import os\n\n    os._exit(3)",
            ("test_neuron",),
            ("uses:os._exit", "process-died (exit status 3)"),
        ),
        "kill": Attack(  # the process kills itself
            "relu",
            relu,
            "    import os\n    import signal\n\n    os.kill(os.getpid(), signal.SIGKILL)\n",
            ("test_relu",),
            ("uses:os.kill", "imports:signal"),
        ),
    }
