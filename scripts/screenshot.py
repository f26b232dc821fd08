"""The README's picture, docs/screenshot.png: a chapter's explorer as the built book shows it.

Run it after ``make book``: ``.venv/bin/python scripts/screenshot.py [CHAPTER]`` (default
08_training, the playground). It serves ``book/_build/html`` on 127.0.0.1, opens the chapter in
Chromium (``CHROMIUM``, default /usr/bin/chromium) 1280 px wide, takes the first explorer in
its output area, and stores it with a 128-colour palette so the file stays small (< 150 KB).
"""

from __future__ import annotations

import functools
import io
import os
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book" / "_build" / "html"
OUTPUT = ROOT / "docs" / "screenshot.png"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
WIDTH = 1280  # the page's width, as on a laptop
EXPLORER = ".nnlearn-explorer"  # an explorer's top widget (nnlearn.widgets.layout)
# The theme's sticky header and skip link would be drawn over a picture taller than the window.
HIDE = ".skip-link, .bd-header, .bd-header-article { display: none !important; }"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def explorer_png(url: str) -> bytes:
    """A screenshot of the page's first explorer, in its output area."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_page(viewport={"width": WIDTH, "height": 900})
        page.goto(url, wait_until="networkidle")
        page.add_style_tag(content=HIDE)
        explorer = page.locator(EXPLORER).first
        explorer.wait_for(timeout=30_000)
        # The explorer's output area: the explorer with the book's margin around it.
        output = explorer.locator("xpath=ancestor::div[contains(@class, 'cell_output')][1]")
        png = output.screenshot()
        browser.close()
    return png


def main() -> None:
    chapter = sys.argv[1] if len(sys.argv) > 1 else "08_training"
    if not (BOOK / "notebooks" / f"{chapter}.html").is_file():
        sys.exit(f"No {chapter} page in {BOOK}: run `make book` first.")
    handler = functools.partial(QuietHandler, directory=str(BOOK))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        png = explorer_png(f"http://127.0.0.1:{server.server_port}/notebooks/{chapter}.html")
    finally:
        server.shutdown()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    OUTPUT.parent.mkdir(exist_ok=True)
    image.save(OUTPUT, optimize=True)
    print(f"{OUTPUT}: {image.width}x{image.height} px, {OUTPUT.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
