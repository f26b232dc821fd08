"""The book and the course in a real browser: Chromium, driven by Playwright.

1. The built book (``make book``), served on 127.0.0.1: every page loads with no failed request
   and nothing from outside the book, its maths is typeset by MathJax, every image loads, and in
   the activation functions chapter the explorer's slider renders and moves.
2. Live JupyterLab on 127.0.0.1 with a token: run the activation functions chapter, move the
   explorer's slider, and see the kernel redraw its figure and its readout.
3. ``make course``: JupyterLab's file browser lists every chapter.

Chromium is the system's (Debian's /usr/bin/chromium, or ``CHROMIUM=/path``), installed by
``make test`` when missing; Playwright's own browser download is never used. When a test fails it
saves a screenshot under test-artifacts/ and names it in the failure message; the two explorer
tests also save one each time (test-artifacts/book-activations.png, lab-activations.png).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book" / "_build" / "html"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPLORER_CHAPTER = "02_activations"
SLIDER = ".widget-slider .noUi-handle"


# ---------------------------------------------------------------------------------------------
# Browser, screenshots, servers


@pytest.fixture(scope="module")
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
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=False)
    return path


@contextmanager
def screenshot_on_failure(page: Page, name: str) -> Iterator[None]:
    """Re-raise any failure inside the block with the path of a screenshot taken at that moment."""
    try:
        yield
    except Exception as error:
        path = screenshot(page, f"{name}-failure")
        raise AssertionError(f"{error}\nScreenshot of the page: {path}") from error


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def jupyter_server(command: list[str], env: dict[str, str], port: int, token: str):
    """Start a Jupyter server (its own process group), wait until it answers, stop it after.

    Its output goes to a file, read back when the server does not come up."""
    log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        else:
            log.seek(0)
            output = log.read().decode(errors="replace")[-3000:]
            pytest.fail(f"the Jupyter server did not answer (exit {server.poll()}):\n{output}")
        yield base
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def book_url() -> Iterator[str]:
    if not (BOOK / "intro.html").exists():
        pytest.fail(f"the book is not built in {BOOK}: run `make book`")
    handler = functools.partial(QuietHandler, directory=str(BOOK))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------------
# 1. The built book


@contextmanager
def requests_of(page: Page, base: str) -> Iterator[list[str]]:
    """Problems with the page's requests: failed, answered with an error, or leaving the book.

    Chromium's own request for /favicon.ico is not the page's (the book declares no icon)."""
    problems: list[str] = []

    def outside(url: str) -> bool:
        return not url.startswith((base + "/", "data:", "blob:", "about:"))

    def on_request(request):
        if outside(request.url):
            problems.append(f"outside the book: {request.url}")

    def on_response(response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"HTTP {response.status}: {response.url}")

    def on_failed(request):
        if not outside(request.url):
            problems.append(f"failed ({request.failure}): {request.url}")

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    yield problems


@pytest.mark.parametrize("path", ["index.html"] + [f"notebooks/{name}.html" for name in CHAPTERS])
def test_book_page_loads_from_the_book_alone_with_maths_and_figures(page, book_url, path):
    with screenshot_on_failure(page, f"book-{Path(path).stem}"), requests_of(page, book_url) as bad:
        page.goto(f"{book_url}/{path}", wait_until="load")
        if path == "index.html":  # Jupyter Book's index redirects to the first page
            page.wait_for_url("**/intro.html")
            page.wait_for_load_state("load")
        maths = page.locator(".math")
        assert maths.count() > 0, "no maths on the page"
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        typeset = page.evaluate(
            """() => [...document.querySelectorAll('.math')].filter(
                m => m.querySelector('mjx-container') && !m.querySelector('mjx-merror')
            ).length"""
        )
        assert typeset == maths.count(), f"MathJax typeset {typeset} of {maths.count()} formulas"
        page.wait_for_load_state("networkidle")
        images = page.evaluate(
            "() => [...document.images].map(i => [i.currentSrc.slice(0, 80), i.naturalWidth])"
        )
        broken = [src for src, width in images if width == 0]
        assert not broken, f"images that did not load: {broken}"
        assert not bad, "requests that failed or left the book:\n" + "\n".join(bad)


def test_book_activation_explorer_slider_renders_and_moves(page, book_url):
    with screenshot_on_failure(page, "book-activations-explorer"):
        page.goto(f"{book_url}/notebooks/{EXPLORER_CHAPTER}.html", wait_until="load")
        slider = page.locator(".widget-slider").first
        handle, readout = slider.locator(".noUi-handle"), slider.locator(".widget-readout")
        handle.wait_for(state="visible", timeout=30_000)
        before = readout.inner_text()
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "([el, old]) => el.textContent.trim() !== old.trim()",
            arg=[readout.element_handle(), before],
            timeout=10_000,
        )
        # The explorer's cell at the top, below the page's sticky header.
        handle.evaluate("h => { h.closest('.cell').scrollIntoView(); window.scrollBy(0, -70); }")
        screenshot(page, "book-activations")


# ---------------------------------------------------------------------------------------------
# 2. Live JupyterLab


def lab_command(root_dir: Path, settings: Path, port: int, token: str) -> list[str]:
    """``jupyter lab`` on 127.0.0.1 with a token and fresh settings: no news pop-up (it asks
    about fetching news from the internet and covers part of the page), no virtual scrolling."""
    for plugin, value in {
        "apputils-extension/notification": '{"fetchNews": "false"}',
        # Every cell stays in the page, scrolled into view or not.
        "notebook-extension/tracker": '{"windowingMode": "none"}',
    }.items():
        path = settings / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        f"--ServerApp.root_dir={root_dir}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        # Fresh settings and workspace: nothing from the user's own JupyterLab leaks in.
        f"--LabApp.user_settings_dir={settings / 'settings'}",
        f"--LabApp.workspaces_dir={settings / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def explorer_state(output) -> dict[str, str]:
    """What the explorer shows: its figure (the image's source) and its HTML readout."""
    return output.evaluate(
        """o => ({
            figure: o.querySelector('.widget-image').getAttribute('src') || '',
            readout: o.querySelector('.widget-html').innerText,
        })"""
    )


def test_jupyterlab_runs_the_activations_chapter_and_the_explorer_redraws(page, tmp_path):
    # A copy of the chapter, so the lab's saves and outputs never touch notebooks/.
    shutil.copy(ROOT / "notebooks" / f"{EXPLORER_CHAPTER}.ipynb", tmp_path)
    port, token = free_port(), secrets.token_hex(16)
    command = lab_command(tmp_path, tmp_path / ".lab", port, token)
    with jupyter_server(command, {}, port, token) as base:
        with screenshot_on_failure(page, "lab-activations"):
            page.goto(f"{base}/lab/tree/{EXPLORER_CHAPTER}.ipynb?token={token}")
            # Run All does nothing until the kernel is up.
            page.locator("#jp-main-statusbar >> text=Idle").wait_for(timeout=90_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
            # Queued cells show [*]; when the run ends (done, or stopped by an error) none do.
            prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
            page.wait_for_function(
                """() => {
                    const cells = document.querySelectorAll('.jp-CodeCell .jp-InputPrompt');
                    const prompts = [...cells].map(p => p.textContent);
                    return prompts.some(p => /\\[\\d+\\]/.test(p))
                        && !prompts.some(p => p.includes('*'));
                }""",
                timeout=120_000,
            )
            # A worked solution's cell starts with its input collapsed: its prompt is empty.
            # Every other cell that ran shows [n].
            shown = [p for p in prompts.all_inner_texts() if p.strip()]
            not_run = [p for p in shown if not re.search(r"\[\d+\]", p)]
            stderr = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
            assert not not_run, "Run All stopped: " + "\n".join(stderr.all_inner_texts())

            explorer = (
                page.locator(".jp-OutputArea-output")
                .filter(has=page.locator(SLIDER))
                .filter(has=page.locator(".widget-image"))
                .first
            )
            explorer.scroll_into_view_if_needed()
            before = explorer_state(explorer)
            assert before["figure"] and before["readout"], "the explorer shows nothing"
            explorer.locator(SLIDER).first.focus()
            page.keyboard.press("ArrowRight")
            # The slider's new value goes to the kernel, which redraws the figure and readout.
            page.wait_for_function(
                """([o, old]) => {
                    const src = o.querySelector('.widget-image').getAttribute('src');
                    const text = o.querySelector('.widget-html').innerText;
                    return src !== old.figure && text !== old.readout;
                }""",
                arg=[explorer.element_handle(), before],
                timeout=30_000,
            )
            screenshot(page, "lab-activations")


# ---------------------------------------------------------------------------------------------
# 3. make course


def test_make_course_file_browser_lists_every_chapter(page):
    port, token = free_port(), secrets.token_hex(16)
    env = {"JUPYTER_TOKEN": token, "PORT": str(port), "DISPLAY": ""}
    with jupyter_server(["make", "--no-print-directory", "course"], env, port, token) as base:
        with screenshot_on_failure(page, "course-file-browser"):
            page.goto(f"{base}/lab?token={token}")
            names = page.locator(".jp-DirListing-item .jp-DirListing-itemText")
            names.first.wait_for(timeout=60_000)
            listed = set(names.all_inner_texts())
            missing = sorted(f"{name}.ipynb" for name in CHAPTERS if f"{name}.ipynb" not in listed)
            assert not missing, f"the file browser does not list {missing}"
