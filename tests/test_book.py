"""The built book (``make book``; ``make test`` builds it from its own run of the chapters):
every chapter is in it, in the course's order, its pages load nothing from the internet and
stay light, and the explorers' widget state is embedded, with precomputed frames where the book
must respond with no kernel.

Whether the pages *render* (maths, figures, explorers that fit and respond) is checked in
Chromium by tests/test_browser_book.py.
"""

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from browser_support import EXPLORER_CHAPTERS

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "book" / "_build" / "html"
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_CHAPTER = "02_activations"
# A chapter page with everything in it: text, figures' links, and the widget state (every
# precomputed frame of every explorer, as base64 PNGs). A reader on a slow line waits for it.
PAGE_LIMIT_BYTES = 3_000_000

EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
# url(...) and @import in CSS, with /* comments */ removed first.
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", re.IGNORECASE)
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
# A script, style sheet or font URL written inside an inline script (as thebe's loader does).
SCRIPT_URL = re.compile(r"""(?:https?:)?//[^\s'"`]+\.(?:m?js|css|woff2?|ttf|otf|eot)\b""")


def built(path: str) -> Path:
    page = HTML / path
    if not page.exists():
        pytest.fail(f"{page} is missing: build the book first with `make book`")
    return page


class ResourceURLs(HTMLParser):
    """Collects every URL a page loads: script, style sheet, font, image and frame sources,
    url(...) in <style> and style attributes, and script URLs inside inline scripts."""

    LOADING_LINKS = {"stylesheet", "preload", "prefetch", "modulepreload", "icon", "manifest"}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._in = tag
        if tag in ("script", "img", "iframe", "source", "audio", "video", "embed"):
            self.urls.append(attrs.get("src") or "")
        if tag == "link" and self.LOADING_LINKS & set((attrs.get("rel") or "").lower().split()):
            self.urls.append(attrs.get("href") or "")
        self.urls += css_urls(attrs.get("style") or "")

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self.urls += css_urls(data)
        elif self._in == "script":
            self.urls += SCRIPT_URL.findall(data)


def css_urls(css: str) -> list[str]:
    return [a or b for a, b in CSS_URL.findall(CSS_COMMENT.sub("", css))]


def test_book_contents_are_the_chapters_in_notebooks_in_course_order():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    listed = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    assert toc["root"] == "intro"
    assert listed == [f"notebooks/{name}" for name in CHAPTERS]
    assert WIDGET_CHAPTER in CHAPTERS, "the activation functions chapter is missing"
    for name in CHAPTERS:
        built(f"notebooks/{name}.html")


def test_built_pages_load_no_script_style_or_font_from_the_internet():
    pages = sorted(HTML.rglob("*.html"))
    assert built("intro.html") in pages
    found = {}
    for page in pages:
        parser = ResourceURLs()
        parser.feed(page.read_text(encoding="utf-8"))
        external = sorted({url for url in parser.urls if EXTERNAL.match(url)})
        if external:
            found[str(page.relative_to(HTML))] = external
    for sheet in sorted((HTML / "_static").rglob("*.css")):
        external = sorted(
            {u for u in css_urls(sheet.read_text(errors="replace")) if EXTERNAL.match(u)}
        )
        if external:
            found[str(sheet.relative_to(HTML))] = external
    assert not found, f"built pages load from the internet: {found}"


def test_pages_take_mathjax_and_the_widget_manager_from_the_book_itself():
    page = built(f"notebooks/{WIDGET_CHAPTER}.html")
    parser = ResourceURLs()
    parser.feed(page.read_text(encoding="utf-8"))
    scripts = [url.split("?")[0] for url in parser.urls]
    for local in ("mathjax/tex-mml-chtml.js", "require.js", "widgets-paths.js"):
        assert f"../_static/{local}" in scripts, f"{local} is not loaded from _static"
        built(f"_static/{local}")
    # RequireJS, then the module path it needs, then the widget manager that uses both.
    chain = ("require.js", "widgets-paths.js", "html-manager/embed-amd.js")
    positions = [scripts.index(f"../_static/{name}") for name in chain]
    assert positions == sorted(positions), f"scripts out of order: {chain}"
    built("_static/html-manager/embed-amd.js")


def test_widget_chapter_embeds_widget_state_and_a_static_figure():
    text = built(f"notebooks/{WIDGET_CHAPTER}.html").read_text(encoding="utf-8")
    assert 'type="application/vnd.jupyter.widget-state+json"' in text
    assert text.count('type="application/vnd.jupyter.widget-view+json"') >= 1
    state = re.search(r'widget-state\+json">(.*?)</script>', text, re.DOTALL).group(1)
    assert re.search(r'"\w*SliderModel"', state), "no slider in the embedded widget state"
    figures = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+\.png)"', text)
    assert figures, "no static figure next to the widget"
    for figure in figures:
        assert (HTML / "notebooks" / figure).stat().st_size > 0


def widget_state(page: Path) -> tuple[dict, list[str]]:
    """The page's embedded widget models (id -> state) and the model ids of its widget outputs."""
    text = page.read_text(encoding="utf-8")
    found = re.search(r'widget-state\+json">(.*?)</script>', text, re.DOTALL)
    models = json.loads(found.group(1))["state"] if found else {}
    views = re.findall(r'widget-view\+json">(.*?)</script>', text, re.DOTALL)
    return models, [json.loads(view)["model_id"] for view in views]


def test_widgets_are_explorers_in_the_explorer_chapters_only():
    for name in CHAPTERS:
        models, shown = widget_state(built(f"notebooks/{name}.html"))
        if name not in EXPLORER_CHAPTERS:
            assert not shown, f"{name} shows widgets: add it to EXPLORER_CHAPTERS"
            continue
        assert shown, f"{name} shows no explorer"
        for model_id in shown:
            classes = models[model_id]["state"].get("_dom_classes", [])
            assert "nnlearn-explorer" in classes, (
                f"{name} shows a widget that is not an explorer (explorer_box): {classes}"
            )


@pytest.mark.parametrize("name", EXPLORER_CHAPTERS)
def test_explorer_frames_follow_the_slider_in_the_page_itself(name):
    """A Stack of frames whose selected_index a jslink ties to a slider's index: the browser
    switches frames with no kernel (tests/test_browser_book.py moves the slider)."""
    models, _ = widget_state(built(f"notebooks/{name}.html"))
    stacks = {f"IPY_MODEL_{i}" for i, m in models.items() if m["model_name"] == "StackModel"}
    links = [m["state"] for m in models.values() if m["model_name"] == "LinkModel"]
    tied = [
        link
        for link in links
        if link["source"][1] == "index"
        and link["target"][1] == "selected_index"
        and link["target"][0] in stacks
    ]
    assert tied, f"{name}: no Stack of frames linked to a slider in the embedded widget state"


def test_every_chapter_page_stays_under_the_page_limit():
    sizes = {name: built(f"notebooks/{name}.html").stat().st_size for name in CHAPTERS}
    heavy = {
        name: f"{size / 1e6:.2f} MB" for name, size in sizes.items() if size > PAGE_LIMIT_BYTES
    }
    assert not heavy, f"pages over {PAGE_LIMIT_BYTES:,} bytes: {heavy}"


def _kernel_output_of_a_run(with_the_tests_setting: bool) -> str:
    """What a notebook's kernel prints when a bare kernel manager runs it (nbval's and nbclient's
    are), with or without the setting conftest.py makes before nbval starts the chapters."""
    setting = "import conftest; conftest.pytest_configure(None)"
    code = "\n".join(
        [
            "import nbclient, nbformat",
            setting if with_the_tests_setting else "",
            "cell = nbformat.v4.new_code_cell('print(6 * 7)')",
            "notebook = nbformat.v4.new_notebook(cells=[cell])",
            "nbclient.NotebookClient(notebook, kernel_name='python3').execute()",
            "assert cell.outputs[0]['text'] == '42\\n'",
        ]
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout + run.stderr


def test_the_chapters_kernels_run_encrypted_without_a_warning():
    warning = "running over TCP without encryption"
    assert warning in _kernel_output_of_a_run(with_the_tests_setting=False)
    assert warning not in _kernel_output_of_a_run(with_the_tests_setting=True)
