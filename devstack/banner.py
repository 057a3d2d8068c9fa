"""What ``make up`` prints: the dev secrets at start, the URLs and tokens once ready."""

from __future__ import annotations

from devstack.devsecrets import FILE_NAME, DevSecrets
from devstack.settings import DevSettings
from devstack.tokens import DEV_ADMIN_ID, DEV_USER_ID, admin_token, user_token
from shared.groq_models import DEFAULT_CHAT_MODEL


def secrets_lines(settings: DevSettings, dev: DevSecrets) -> list[str]:
    where = {
        "env": "from the environment",
        "kept": f"kept in {settings.data_dir / FILE_NAME}",
        "generated": f"generated, kept in {settings.data_dir / FILE_NAME}",
    }
    lines = ["dev secrets (set these variables to override):"]
    for name, value in dev.as_env().items():
        lines.append(f"  {name}={value}   ({where[dev.sources[name]]})")
    return lines


def ready_lines(
    settings: DevSettings,
    dev: DevSecrets,
    kafka: str,
    database_url: str,
    elapsed: float,
) -> list[str]:
    ports = settings.service_ports
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    config = f"http://127.0.0.1:{ports['config']}"
    user = user_token(dev.auth_jwt_secret)
    admin = admin_token(dev.auth_jwt_secret)
    key = dev.first_gateway_key
    lines = [
        f"all services ready in {elapsed:.1f} s",
        "",
        f"  Gateway      {gateway}   (POST /api-chatbot, /webhooks/whatsapp, /webhooks/twilio)",
        f"  Config API   {config}   (docs: {config}/docs, OpenAPI: {config}/openapi.json)",
        "",
        # The token travels in the fragment: browsers never send it to a server or a log.
        f"  Settings UI  {config}/ui/",
        f"    sign in as the dev user:  {config}/ui/#token={user}&gateway={gateway}",
        f"    sign in as administrator: {config}/ui/#token={admin}&gateway={gateway}",
        "",
        "  Operations endpoints:",
    ]
    for name, port in ports.items():
        base = f"http://127.0.0.1:{port}"
        lines.append(f"    {name:<10} {base}/healthz  {base}/readyz  {base}/metrics")
    if settings.trace_port is not None:
        sink = f"http://127.0.0.1:{settings.trace_port}"
        lines += [
            "",
            f"  Traces       OTLP/HTTP sink {sink}, kept in {settings.data_dir / 'traces.jsonl'}",
            f"    .venv/bin/python -m devstack.traces <traceId or messageId> --sink {sink}",
        ]
    if settings.trace_ui_url is not None:
        lines += [
            "",
            f"  Traces       Jaeger UI {settings.trace_ui_url} (spans in: {settings.otlp_endpoint})",
            "    message timelines link to their trace (trace_url)",
        ]
    lines += [
        "",
        f"  Kafka        {kafka}",
        f"  PostgreSQL   {database_url}",
        "",
        f"  Gateway API key (one of GATEWAY_API_KEYS): {key}",
        f"  User token   sub={DEV_USER_ID} role=authenticated",
        f"  Admin token  sub={DEV_ADMIN_ID} role=service_role",
        "  (HS256 with AUTH_JWT_SECRET, aud=authenticated, valid 10 years)",
        "",
        "  Try it (nothing is seeded: the chatbot answers 503 configRequired until a Groq",
        "  config or the system fallback is set):",
        f"    export GATEWAY_KEY='{key}'",
        f"    export USER_TOKEN='{user}'",
        f"    export ADMIN_TOKEN='{admin}'",
        f'    curl -sS {config}/v1/me/groq-config -H "Authorization: Bearer $USER_TOKEN"',
        f'    curl -sS -X PUT {config}/v1/me/groq-config -H "Authorization: Bearer $USER_TOKEN" \\',
        "         -H 'Content-Type: application/json' \\",
        '         -d \'{"api_key": "gsk_...", "model": "' + DEFAULT_CHAT_MODEL + '", '
        '"temperature": 0.7}\'',
        f'    curl -sS {config}/v1/system/settings -H "Authorization: Bearer $ADMIN_TOKEN"',
        f'    curl -sS -X POST {gateway}/api-chatbot -H "Authorization: Bearer $GATEWAY_KEY" \\',
        "         -H 'Content-Type: application/json' \\",
        '         -d \'{"text": "Bonjour", "source": "whatsapp", "phoneNumber": "+33612345678"}\'',
        "",
        "  Ctrl-C stops everything.",
    ]
    return lines
