"""Start JupyterLab on the course (``make course``).

It binds to 127.0.0.1 behind a token (JupyterLab makes a random one, or takes
``JUPYTER_TOKEN``), prints the URL, opens a browser only where there is a screen, and passes
``--allow-root`` only when run as root. Extra arguments go to ``jupyter lab``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def has_screen() -> bool:
    """A browser can open: always on macOS and Windows, on Linux when a display is set."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def lab_arguments(extra: list[str]) -> list[str]:
    args = [
        "lab",
        f"--ServerApp.root_dir={NOTEBOOKS}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.open_browser={has_screen()}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args + extra


def main() -> None:
    jupyter = Path(sys.executable).with_name("jupyter")
    args = lab_arguments(sys.argv[1:])
    print("Starting the nnlearn course in JupyterLab; open the URL with the token printed below.")
    print("Stop it with Ctrl+C.", flush=True)
    os.execv(jupyter, [str(jupyter), *args])


if __name__ == "__main__":
    main()
