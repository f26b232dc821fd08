"""The book's kernels talk to the build over encrypted ZeroMQ, as ``make course``'s kernels do.

myst-nb executes each chapter through nbclient, which starts its kernel with a bare
``KernelManager`` that reads no Jupyter configuration. Its ``transport_encryption`` stays
"disabled", so every kernel prints "Kernel is running over TCP without encryption" into the
build's output. This extension makes "auto" the default (the manager provisions CurveZMQ keys
when the kernel declares support for them), the setting ``scripts/start_course.py`` passes to
JupyterLab on its command line. Where pyzmq lacks CurveZMQ, or jupyter_client predates the
setting, nothing changes.
"""

from __future__ import annotations

from typing import Any


def setup(app: Any) -> dict[str, bool]:
    import zmq
    from jupyter_client.manager import KernelManager

    trait = KernelManager.class_traits().get("transport_encryption")
    if trait is not None and zmq.has("curve"):
        trait.default_value = "auto"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
