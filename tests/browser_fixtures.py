"""The browser tests' fixtures: one Chromium, one server of the built book and one JupyterLab,
each started once for the whole session (tests/test_browser_*.py load this file as a pytest
plugin; their helpers are in tests/browser_support.py).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_support import (
    BOOK,
    CHROMIUM,
    ROOT,
    VIEWPORTS,
    Lab,
    free_port,
    jupyter_server,
    lab_command,
)
from playwright.sync_api import Browser, Page, sync_playwright

# ---------------------------------------------------------------------------------------------
# Chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not at {CHROMIUM}: `make browser` installs it on Debian/Ubuntu; "
            "elsewhere install Chromium and set CHROMIUM=/path/to/chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    width, height = VIEWPORTS[0]
    context = browser.new_context(viewport={"width": width, "height": height})
    # Playwright's 30 s is too short on two busy cores: a page with many formulas took 34 s to
    # typeset while the other process ran a chapter.
    context.set_default_timeout(90_000)
    yield context.new_page()
    context.close()


# ---------------------------------------------------------------------------------------------
# Servers


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Iterator[Lab]:
    """One JupyterLab for every chapter, on a copy of notebooks/ (its saves never touch the
    course's files)."""
    root = tmp_path_factory.mktemp("lab")
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        (root / notebook.name).write_bytes(notebook.read_bytes())
    port, token = free_port(), os.urandom(16).hex()
    with jupyter_server(lab_command(root, root / ".lab", port, token), {}, port, token) as base:
        yield Lab(base, token)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="session")
def book_url() -> Iterator[str]:
    if not (BOOK / "intro.html").exists():
        pytest.fail(f"the book is not built in {BOOK}: run `make book`")
    handler = functools.partial(QuietHandler, directory=str(BOOK))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
