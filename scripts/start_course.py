"""Start JupyterLab on the course (``make course``), in the learner's working copy.

It first copies into ``work/`` the chapters it does not have yet (all of them on first use, new
ones after an update; see ``working_copy.py``) and serves that folder, so running a chapter
never changes ``notebooks/``. It binds to 127.0.0.1 behind a token (JupyterLab makes a random
one, or takes ``JUPYTER_TOKEN``), prints the URL, opens a browser only where there is a screen,
passes ``--allow-root`` only when run as root, and encrypts the kernels' traffic where it
can. Extra arguments go to ``jupyter lab``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import working_copy


def has_screen() -> bool:
    """A browser can open: always on macOS and Windows, on Linux when a display is set."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def can_encrypt_kernels() -> bool:
    """jupyter_client (8.10 on) can give kernels CurveZMQ keys, and libzmq has CurveZMQ.

    Then the kernels' traffic is encrypted, and ipykernel no longer warns "Kernel is running
    over TCP without encryption" in the terminal each time a chapter starts.
    """
    import zmq
    from jupyter_client.manager import KernelManager

    return zmq.has("curve") and KernelManager.class_traits().get("transport_encryption") is not None


def lab_arguments(extra: list[str]) -> list[str]:
    args = [
        "lab",
        f"--ServerApp.root_dir={working_copy.WORK}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.open_browser={has_screen()}",
    ]
    if can_encrypt_kernels():
        args.append("--KernelManager.transport_encryption=auto")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args + extra


def main() -> None:
    copied = working_copy.fill()
    if copied:
        print(f"Copied {len(copied)} chapter(s) into your working copy: {', '.join(copied)}")
    command = [sys.executable, "-m", "jupyter", *lab_arguments(sys.argv[1:])]
    print(f"Starting the nnlearn course in JupyterLab, in {working_copy.WORK}.")
    print("Open the URL with the token printed below. Stop it with Ctrl+C, twice.", flush=True)
    if sys.platform == "win32":  # no exec there: wait for JupyterLab instead
        sys.exit(subprocess.call(command))
    os.execv(sys.executable, command)


if __name__ == "__main__":
    main()
