"""A local OTLP/HTTP trace receiver, so a trace can be looked at without Docker or Jaeger.

Services export to it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<port>; it decodes
`POST /v1/traces` (protobuf, as the Python exporter sends, or OTLP JSON) into one JSON line
per span in a file, and serves them back: `GET /spans?trace_id=…` or `?message_id=…`.
`make up` runs it; `python -m devstack.traces <trace or message id>` prints the tree.
Run alone: python -m devstack.tracesink --port 4318 --file .devdata/traces.jsonl
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def _value(attribute: dict[str, Any]) -> Any:
    value = attribute.get("value", {})
    for kind in ("stringValue", "boolValue", "intValue", "doubleValue"):
        if kind in value:
            return int(value[kind]) if kind == "intValue" else value[kind]
    return value


def flatten(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """One plain dict per span, with the service name taken from its resource."""
    spans: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = {
            a.key: MessageToDict(a.value).get("stringValue")
            for a in resource_spans.resource.attributes
        }
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                as_dict = MessageToDict(span)
                spans.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "name": span.name,
                        "kind": as_dict.get("kind", "SPAN_KIND_INTERNAL"),
                        "service": resource.get("service.name"),
                        "start_ns": span.start_time_unix_nano,
                        "end_ns": span.end_time_unix_nano,
                        "status": as_dict.get("status", {}).get("code", "STATUS_CODE_UNSET"),
                        "attributes": {a["key"]: _value(a) for a in as_dict.get("attributes", [])},
                        "links": [link.get("traceId") for link in as_dict.get("links", [])],
                    }
                )
    return spans


class SpanStore:
    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._spans: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                for line in path.read_text().splitlines():
                    if line.strip():
                        self._spans.append(json.loads(line))

    def add(self, spans: list[dict[str, Any]]) -> None:
        with self._lock:
            self._spans += spans
            if self._path is not None:
                with self._path.open("a") as file:
                    file.writelines(json.dumps(span) + "\n" for span in spans)

    def query(
        self, trace_id: str | None = None, message_id: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            spans = list(self._spans)
        if message_id is not None:
            traces = {
                s["trace_id"] for s in spans if s["attributes"].get("app.message_id") == message_id
            }
            return [s for s in spans if s["trace_id"] in traces]
        if trace_id is not None:
            return [s for s in spans if s["trace_id"] == trace_id]
        return spans


def build_app(store: SpanStore) -> FastAPI:
    app = FastAPI(title="trace sink", openapi_url=None)

    @app.post("/v1/traces")
    async def receive(request: Request) -> Response:
        body = await request.body()
        export = ExportTraceServiceRequest()
        if request.headers.get("content-type", "").startswith("application/json"):
            from google.protobuf.json_format import Parse

            Parse(body.decode(), export)
        else:
            export.ParseFromString(body)
        store.add(flatten(export))
        return Response(
            ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf"
        )

    @app.get("/spans")
    async def spans(
        trace_id: str | None = None, message_id: str | None = None
    ) -> list[dict[str, Any]]:
        return store.query(trace_id, message_id)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="local OTLP/HTTP trace sink")
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--file", type=Path, default=None, help="JSON lines file to append to")
    args = parser.parse_args()
    uvicorn.run(
        build_app(SpanStore(args.file)), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
