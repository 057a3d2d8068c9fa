"""What the browser tests do to the UI: sign in, find fields by their label, check a page."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Response
from playwright.async_api import Error as PlaywrightError

from tests.browser.conftest import AXE
from tests.support.stack import Stack

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}
# `make ui-screenshots` sets this to docs/ui; otherwise no test writes a file.
SCREENSHOTS = os.environ.get("UI_SCREENSHOTS")


@dataclass
class UiSession:
    context: BrowserContext
    page: Page
    bodies: list[str] = field(default_factory=list)  # every API answer the page received

    async def close(self) -> None:
        await self.context.close()


async def open_ui(
    browser: Browser,
    stack: Stack,
    token: str | None,
    viewport: dict[str, int] = DESKTOP,
    path: str = "/",
) -> UiSession:
    """A fresh browser profile on the UI; with a token, signed in through the dev link
    (`#token=…&gateway=…`)."""
    context = await browser.new_context(viewport=viewport, locale="fr-FR")  # type: ignore[arg-type]
    # axe-core as an init script: it runs before the page's own, unaffected by the page's
    # Content-Security-Policy (which refuses any script not served by the config service).
    await context.add_init_script(path=str(AXE))
    page = await context.new_page()
    session = UiSession(context, page)

    async def keep(response: Response) -> None:
        if "/v1/" in response.url or "/api-chatbot" in response.url:
            # A preflight or an aborted answer has no body to read.
            with contextlib.suppress(PlaywrightError):
                session.bodies.append(await response.text())

    page.on("response", keep)
    fragment = f"#token={token}&gateway={stack.gateway.url}" if token else f"#{path}"
    await page.goto(f"{stack.config.url}/ui/{fragment}")
    if token:
        await page.wait_for_function("() => window.location.hash === '#/'")
        if path != "/":
            await go(page, path)
    return session


async def go(page: Page, path: str) -> None:
    await page.evaluate("path => { window.location.hash = path }", f"#{path}")


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    result = await page.evaluate("async () => JSON.stringify(await axe.run(document))")
    violations: list[dict[str, Any]] = json.loads(result)["violations"]
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


async def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scroll)."""
    width: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


async def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)
