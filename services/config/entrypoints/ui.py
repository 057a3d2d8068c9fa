"""The settings UI's built files under /ui/ (only static files: the pages read the public
config API from the browser, so nothing here knows a tenant or a secret)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

# ui/dist at the root of the source tree (the image copies it to the same place).
UI_DIR = Path(__file__).resolve().parents[3] / "ui" / "dist"
MOUNT = "/ui"
NOT_BUILT = (
    "The settings UI is not built: `make up` builds it (or `cd ui && npm ci && npm run build`)."
)


def mount_ui(app: FastAPI, directory: Path = UI_DIR) -> None:
    @app.get(MOUNT, include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{MOUNT}/")

    if (directory / "index.html").is_file():
        app.mount(MOUNT, StaticFiles(directory=directory, html=True), name="ui")
        return

    @app.get(f"{MOUNT}/{{rest:path}}", include_in_schema=False)
    async def ui_missing(rest: str) -> PlainTextResponse:
        return PlainTextResponse(NOT_BUILT, status_code=503)
