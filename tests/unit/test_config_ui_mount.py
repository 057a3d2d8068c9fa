"""The config service's /ui/ mount: the built files when there are some, else a clear 503."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.config.entrypoints.ui import NOT_BUILT, mount_ui


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://config") as client:
        return await client.get(path)


async def test_serves_the_built_files_under_ui(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>ui</title>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    app = FastAPI()
    mount_ui(app, tmp_path)

    assert (await _get(app, "/ui")).headers["location"] == "/ui/"
    index = await _get(app, "/ui/")
    assert index.status_code == 200 and "<title>ui</title>" in index.text
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    assert index.headers["referrer-policy"] == "no-referrer"
    assert (await _get(app, "/ui/assets/app.js")).text == "console.log(1)"
    assert (await _get(app, "/ui/../pyproject.toml")).status_code == 404
    assert "/ui/" not in app.openapi()["paths"]


async def test_says_how_to_build_it_when_it_is_not_built(tmp_path: Path) -> None:
    app = FastAPI()
    mount_ui(app, tmp_path)
    answer = await _get(app, "/ui/")
    assert answer.status_code == 503 and answer.text == NOT_BUILT
