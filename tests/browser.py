"""The report opened in a real headless Chromium (Debian's, installed by `make test`), as a reader opens it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"


@dataclass
class PageReport:
    console_errors: list[str]
    failed_requests: list[str]
    page_errors: list[str]
    undecoded_images: list[str]
    n_images: int
    models_by_table: dict[str, list[str]]  # "<dataset>/<kind>" -> model rows, in order
    text: str
    injected: bool  # whether a script from the data ran


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "Debian's chromium is not installed: `make test` installs it (apt-get install chromium)"
    return path


def open_report(html: Path, screenshot_name: str) -> PageReport:
    """Load `html` from a file:// URL, record every problem, and save a full-page screenshot under
    build/test-artifacts/."""
    from playwright.sync_api import sync_playwright

    console_errors, failed, page_errors = [], [], []
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root in CI, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
            page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.goto(html.resolve().as_uri(), wait_until="load")
            undecoded = page.eval_on_selector_all(
                "img", "images => images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt)"
            )
            n_images = page.eval_on_selector_all("img", "images => images.length")
            tables = page.eval_on_selector_all(
                "table.summary",
                """tables => Object.fromEntries(tables.map(t => [
                    t.dataset.dataset + '/' + t.dataset.kind,
                    [...t.querySelectorAll('tbody tr[data-model]')].map(r => r.dataset.model)]))""",
            )
            text = page.inner_text("body")
            injected = page.evaluate("() => window.__genbench_injected === true")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / screenshot_name), full_page=True)
        finally:
            browser.close()
    return PageReport(console_errors, failed, page_errors, undecoded, n_images, tables, text, injected)
