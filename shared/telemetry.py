"""OpenTelemetry, set up once per process from the standard OTEL_* variables.

A real SDK tracer provider is always installed, so trace ids exist (the gateway returns
one) even when nothing is exported; spans leave the process only when
OTEL_EXPORTER_OTLP_ENDPOINT is set.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic_settings import BaseSettings, SettingsConfigDict

_configured = False


class TelemetrySettings(BaseSettings):
    """The standard OTEL_* variables this module decides on; the SDK and the exporter read
    the rest themselves (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, headers, ...)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    otel_service_name: str = ""
    otel_exporter_otlp_endpoint: str = ""
    otel_exporter_otlp_traces_endpoint: str = ""


def configure_tracing(service: str) -> TracerProvider:
    global _configured
    provider = trace.get_tracer_provider()
    if _configured and isinstance(provider, TracerProvider):
        return provider
    settings = TelemetrySettings()
    resource = Resource.create({SERVICE_NAME: settings.otel_service_name or service})
    # The sampler comes from OTEL_TRACES_SAMPLER (default: every trace); an operator on
    # small nodes sets parentbased_traceidratio (README, docs/benchmarks.md).
    provider = TracerProvider(resource=resource)
    if settings.otel_exporter_otlp_endpoint or settings.otel_exporter_otlp_traces_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    _configured = True
    return provider


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def instrument_fastapi(app: FastAPI) -> None:
    """A server span per request; probes are not traced, and the ASGI `receive`/`send`
    sub-spans (two or more per request, no information a reader needs) are left out."""
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
    )
