"""The built book (``make book``) in Chromium, served on 127.0.0.1 with no kernel anywhere.

1. Every page loads with no failed request and nothing from outside the book, its maths is
   typeset by MathJax, and every image loads.
2. Every explorer fits the content column at 1280x800 and 1920x1080 (every control, readout and
   its figure fully visible), and responds with no kernel: its slider switches the figure
   between frames drawn in advance (a FrameStack), in the browser.
   Screenshots: test-artifacts/book-<chapter>-1280.png.
3. The playground's ▶ plays its recorded run in the book, with no kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser_support import (
    CHAPTERS,
    EXPLORER,
    EXPLORER_CHAPTERS,
    HANDLE,
    explorers_problems,
    figure_follows_the_slider,
    screenshot_on_failure,
    shown_figure,
    wait_for_new_figure,
)
from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.book
pytest_plugins = ["browser_fixtures"]

# A widget's output in the book: its cell's output, inside the page's content column.
OUTPUT_AREA = ".cell_output"
# Space left above an explorer in its screenshot: the book's sticky header covers 70 px.
MARGIN_PX = 90


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
        # Every image loaded or failed (not "networkidle": in one CI run of 40 pages a request
        # stayed open for 90 s on a page that had rendered completely).
        page.wait_for_function("() => [...document.images].every(image => image.complete)")
        images = page.evaluate(
            "() => [...document.images].map(i => [i.currentSrc.slice(0, 80), i.naturalWidth])"
        )
        broken = [src for src, width in images if width == 0]
        assert not broken, f"images that did not load: {broken}"
        assert not bad, "requests that failed or left the book:\n" + "\n".join(bad)


def responds_without_a_kernel(page: Page, explorer: Locator) -> str | None:
    """Every explorer switches its figure in the browser, between frames drawn in advance."""
    if not explorer.locator(".nnlearn-frames").count():
        return "it has no precomputed frames (nnlearn.widgets.layout.FrameStack)"
    return figure_follows_the_slider(page, explorer, timeout_ms=5_000)


@pytest.mark.parametrize("chapter", EXPLORER_CHAPTERS)
def test_book_explorers_fit_the_column_and_respond_without_a_kernel(page, book_url, chapter):
    with screenshot_on_failure(page, f"book-{chapter}"):
        page.goto(f"{book_url}/notebooks/{chapter}.html", wait_until="domcontentloaded")
        # The widget manager renders each widget output into a .widget-subarea of its own.
        outputs = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
        assert outputs >= 1, "the chapter shows no widget"
        page.wait_for_function(
            "n => document.querySelectorAll('.widget-subarea > .jupyter-widgets').length >= n",
            arg=outputs,
        )
        others = page.locator(f".widget-subarea > .jupyter-widgets:not({EXPLORER})").count()
        assert not others, (
            f"{others} of {outputs} widget outputs are not explorers "
            "(nnlearn.widgets.layout.explorer_box)"
        )
        page.locator(f"{EXPLORER} img").first.wait_for(state="visible")
        problems = explorers_problems(
            page, "book", chapter, OUTPUT_AREA, responds_without_a_kernel, MARGIN_PX
        )
    assert not problems, "\n".join(problems)


def test_book_playground_play_button_plays_the_recorded_run(page, book_url):
    """▶ (an ipywidgets Play, jsdlinked to the epoch slider) steps through the frames with no
    kernel: the theme's FontAwesome must nest its icons, not replace them (book/js)."""
    with screenshot_on_failure(page, "book-08_training-play"):
        page.goto(f"{book_url}/notebooks/08_training.html", wait_until="domcontentloaded")
        explorer = page.locator(EXPLORER).first
        explorer.locator("img").first.wait_for(state="visible")
        epoch = explorer.locator(HANDLE).first
        epoch.scroll_into_view_if_needed()
        epoch.focus()
        page.keyboard.press("Home")  # the first frame: ▶ starts from there
        at_start = "h => Number(h.getAttribute('aria-valuenow')) === 0"
        page.wait_for_function(at_start, arg=epoch.element_handle())
        before = shown_figure(explorer)
        explorer.locator(".widget-play button").first.click()
        wait_for_new_figure(page, explorer, before, timeout_ms=5_000)
        page.wait_for_function(f"h => !({at_start})(h)", arg=epoch.element_handle())
