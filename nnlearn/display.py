"""Showing nnlearn's own source in a notebook: the course reads the code it builds."""

from __future__ import annotations

import inspect
from typing import Any


class Source:
    """The source of a function or class: highlighted HTML in a notebook, plain text elsewhere."""

    def __init__(self, obj: Any) -> None:
        self.name = getattr(obj, "__qualname__", repr(obj))
        self.module = getattr(inspect.getmodule(obj), "__name__", "?")
        self.text = inspect.getsource(obj)

    def __str__(self) -> str:
        return f"# {self.module}.{self.name}\n{self.text}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        try:
            from pygments import highlight
            from pygments.formatters import HtmlFormatter
            from pygments.lexers import PythonLexer
        except ImportError:  # plain Python without Jupyter's pygments
            import html

            return f"<pre>{html.escape(str(self))}</pre>"
        formatter = HtmlFormatter(noclasses=True, nowrap=False)
        return highlight(str(self), PythonLexer(), formatter)


def show_source(obj: Any) -> Source:
    """Return ``obj``'s source for display: ``show_source(nl.functional.MatMul)``."""
    return Source(obj)
