"""The settings UI's built files under /ui/ (only static files: the pages read the public
config API from the browser, so nothing here knows a tenant or a secret)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# ui/dist at the root of the source tree (the image copies it to the same place).
UI_DIR = Path(__file__).resolve().parents[3] / "ui" / "dist"
MOUNT = "/ui"
NOT_BUILT = (
    "The settings UI is not built: `make up` builds it (or `cd ui && npm ci && npm run build`)."
)


# Scripts and styles from this origin only (inline style attributes: the charts set them);
# API calls to this origin and to the gateway (the test-message box), wherever it is; never
# framed (the pages hold forms that change settings); no referrer (nothing leaks the path).
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' http: https:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class UiFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        return response


def mount_ui(app: FastAPI, directory: Path = UI_DIR) -> None:
    @app.get(MOUNT, include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{MOUNT}/")

    if (directory / "index.html").is_file():
        app.mount(MOUNT, UiFiles(directory=directory, html=True), name="ui")
        return

    @app.get(f"{MOUNT}/{{rest:path}}", include_in_schema=False)
    async def ui_missing(rest: str) -> PlainTextResponse:
        return PlainTextResponse(NOT_BUILT, status_code=503)
