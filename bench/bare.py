"""The ingest baseline: a bare FastAPI "hello" endpoint served exactly like the services
(shared.server.serve: uvicorn, one process, same settings). No middleware, no I/O.

Run: python -m bench.bare --port 8099
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.server import serve


def build_app() -> FastAPI:
    app = FastAPI(openapi_url=None)

    @app.post("/hello")
    async def hello() -> JSONResponse:
        return JSONResponse({"success": True})

    @app.get("/readyz")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": True})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="bare hello endpoint")
    parser.add_argument("--port", type=int, required=True)
    serve(build_app(), parser.parse_args().port)


if __name__ == "__main__":
    main()
