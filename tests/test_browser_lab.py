"""The course in JupyterLab, in Chromium, as a newcomer has it: the file browser open on the left.

1. One JupyterLab (on a copy of notebooks/) runs every chapter with explorers, each once (Run
   All); then every explorer must fit its output area at 1280x800 and 1920x1080 (every control,
   readout and its figure fully visible), and moving its first slider must change the figure
   (the kernel redraws it, or the browser switches a precomputed frame). Screenshots:
   test-artifacts/lab-<chapter>-1280.png.
2. ``make course``: JupyterLab's file browser lists every chapter.
"""

from __future__ import annotations

import re
import secrets

import pytest
from browser_support import (
    CHAPTERS,
    EXPLORER,
    EXPLORER_CHAPTERS,
    HANDLE,
    Lab,
    explorers_problems,
    figure_follows_the_slider,
    free_port,
    jupyter_server,
    screenshot_on_failure,
)
from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.lab
pytest_plugins = ["browser_fixtures"]

OUTPUT_AREA = ".jp-OutputArea-output"
# A widget's output: the top widget's view right inside the output area.
WIDGET_OUTPUT = f"{OUTPUT_AREA}:has(> .jupyter-widgets)"
# The longest a chapter may take from Run All to its last cell, on 2 busy cores.
RUN_ALL_MS = 240_000
# The longest the kernel may take to redraw an explorer (every frame of a FrameStack).
KERNEL_MS = 30_000
# Space left above an explorer in its screenshot.
MARGIN_PX = 40


def open_beside_the_file_browser(page: Page, lab: Lab, chapter: str) -> None:
    # A workspace of its own: the chapter alone in the main area, as a newcomer opens it.
    page.goto(lab.url(f"lab/workspaces/{chapter}/tree/{chapter}.ipynb"))
    # Run All does nothing until the kernel is up.
    page.locator("#jp-main-statusbar >> text=Idle").wait_for(timeout=90_000)
    browser_panel = page.locator("#filebrowser")
    if not browser_panel.is_visible():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
    browser_panel.wait_for(state="visible")
    # JupyterLab's default sidebar width: what is left for the notebook is what a newcomer gets.
    assert browser_panel.bounding_box()["width"] >= 200, "the file browser is not open"


def run_all(page: Page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator('.lm-Menu-itemLabel:text-is("Run All Cells")').click()
    # Queued cells show [*]; when the run ends (done, or stopped by an error) none do.
    page.wait_for_function(
        """() => {
            const cells = document.querySelectorAll('.jp-CodeCell .jp-InputPrompt');
            const prompts = [...cells].map(p => p.textContent);
            return prompts.some(p => /\\[\\d+\\]/.test(p)) && !prompts.some(p => p.includes('*'));
        }""",
        timeout=RUN_ALL_MS,
    )
    # A worked solution's cell starts with its input collapsed: its prompt is empty.
    # Every other cell that ran shows [n].
    shown = [p for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts() if p.strip()]
    not_run = [p for p in shown if not re.search(r"\[\d+\]", p)]
    stderr = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    assert not not_run, "Run All stopped: " + "\n".join(stderr.all_inner_texts())


def redraws(page: Page, explorer: Locator) -> str | None:
    """The main slider changes the figure (the kernel redraws it, or the browser shows another
    precomputed frame); then, where there are frames, the next slider makes the kernel redraw
    them."""
    failure = figure_follows_the_slider(page, explorer, KERNEL_MS)
    if failure or not explorer.locator(".nnlearn-frames").count():
        return failure
    if explorer.locator(HANDLE).count() < 2:
        return None
    return figure_follows_the_slider(page, explorer, KERNEL_MS, number=1)


@pytest.mark.parametrize("chapter", EXPLORER_CHAPTERS)
def test_lab_explorers_fit_beside_the_file_browser_and_redraw(page, lab, chapter):
    try:
        with screenshot_on_failure(page, f"lab-{chapter}"):
            open_beside_the_file_browser(page, lab, chapter)
            run_all(page)
            assert page.locator(WIDGET_OUTPUT).count() >= 1, "the chapter shows no widget"
            others = page.locator(f"{OUTPUT_AREA} > .jupyter-widgets:not({EXPLORER})")
            assert others.count() == 0, (
                "a widget output that is not an explorer (nnlearn.widgets.layout.explorer_box)"
            )
            problems = explorers_problems(page, "lab", chapter, OUTPUT_AREA, redraws, MARGIN_PX)
    finally:
        lab.shut_down_kernels()
    assert not problems, "\n".join(problems)


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
