from __future__ import annotations

import pytest

from services.gateway.settings import GatewaySettings
from shared.settings import load_settings


def test_missing_secrets_stop_the_service_with_a_message_naming_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SECRETS_KEY", "GATEWAY_API_KEYS", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as raised:
        load_settings(GatewaySettings)
    assert raised.value.code == 2
    message = capsys.readouterr().err
    for name in ("SECRETS_KEY", "GATEWAY_API_KEYS", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL"):
        assert name in message
    assert "Traceback" not in message
