"""Asks Groq which models a key can use (`GET /openai/v1/models`): how a key is checked on
save, by the daily health check, and for the settings UI's model picker."""

from __future__ import annotations

import httpx

from services.config.domain.key_pool import CheckOutcome, KeyCheck


async def check_key(base_url: str, api_key: str, timeout_s: float = 10.0) -> KeyCheck:
    url = base_url.rstrip("/").removesuffix("/openai/v1") + "/openai/v1/models"
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url, headers={"Authorization": f"Bearer {api_key}"})
    except httpx.HTTPError:
        return KeyCheck(CheckOutcome.UNREACHABLE)
    if response.status_code in (401, 403):
        return KeyCheck(CheckOutcome.REFUSED, status=response.status_code)
    if response.status_code != 200:
        return KeyCheck(CheckOutcome.UNREACHABLE, status=response.status_code)
    try:
        data = response.json().get("data", [])
        models = tuple(
            sorted(
                str(item["id"])
                for item in data
                if isinstance(item, dict) and "id" in item and item.get("active", True)
            )
        )
    except (ValueError, AttributeError):
        return KeyCheck(CheckOutcome.UNREACHABLE, status=response.status_code)
    return KeyCheck(CheckOutcome.ACCEPTED, models=models)
