"""Media: CPU per voice note, with the fake transcription answering at once, and the
media service's CPU per text-only message (which it must skip cheaply).

Each tenant's voice note (a 24 KB OGG-like file) is registered on the fake Graph for its
token. First 5 s idle: every process's CPU per second with nothing to do (Kafka polling).
Text phase: text messages at a steady rate; the media service's CPU over them / the count.
Voice phase: voice-note webhooks at a steady rate, then wait until the media service
resolved them all (its `media_resolved_total`) and the gateway sent their replies; CPU of
every process / the count. Each figure also comes "beyond idle": less what the process
burns idle over the same time, which dominates on a slow (loaded) run. The fakes' CPU is
the load, reported apart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
import uuid
from typing import Any

from bench.context import Run
from bench.fakes import ModelDelay
from bench.load import open_loop
from bench.monitor import cpu_delta
from bench.webhook import Message, signed_message

VOICE = b"OggS\x00\x02" + bytes(range(256)) * 96  # 24 KB; the fake only hashes it
TEXT_RATE = 50.0
VOICE_RATE = 20.0
_RESOLVED = re.compile(r"^media_resolved_total\{[^}]*\} ([0-9.e+]+)$", re.M)


async def resolved(run: Run) -> float:
    text = (await run.http.get(run.stack.services["media"].url + "/metrics")).text
    return sum(float(value) for value in _RESOLVED.findall(text))


async def _register_voice(run: Run) -> dict[str, str]:
    """tenant number id → its voice note's media id on the fake Graph."""
    ids = {}
    for tenant in run.tenants:
        media_id = f"MIDbench{uuid.uuid4().hex}"
        body = {
            "media_id": media_id,
            "token": tenant.access_token,
            "mime_type": "audio/ogg",
            "content_b64": base64.b64encode(VOICE).decode(),
            "ttl_s": 3600,
        }
        (await run.http.post(run.stack.graph.url + "/_fake/media", json=body)).raise_for_status()
        ids[tenant.phone_number_id] = media_id
    return ids


def _voice_notes(run: Run, ids: dict[str, str], per_tenant: int) -> list[Message]:
    sha = hashlib.sha256(VOICE).hexdigest()
    out = []
    for customer in range(per_tenant):
        for index, tenant in enumerate(run.tenants):
            audio = {
                "id": ids[tenant.phone_number_id],
                "mime_type": "audio/ogg; codecs=opus",
                "sha256": sha,
                "voice": True,
            }
            content = {"type": "audio", "audio": audio}
            out.append(
                signed_message(tenant, index, 9000 + customer, run.stack.gateway.port, content)
            )
    return out


async def _wait(run: Run, target: float, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (done := await resolved(run)) >= target:
            return done
        await asyncio.sleep(0.25)
    return await resolved(run)


def _per(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    return {
        name: round((after[name] - before.get(name, 0.0)) * 1000 / max(count, 1), 2)
        for name in after
    }


async def _idle_rates(run: Run, seconds: float = 5.0) -> dict[str, float]:
    """CPU seconds per second of each process with nothing to do (polling, timers)."""
    before = run.cpu_now()
    await asyncio.sleep(seconds)
    return {name: used / seconds for name, used in cpu_delta(before, run.cpu_now()).items()}


def _beyond_idle(
    gross: dict[str, float], idle: dict[str, float], elapsed_s: float, count: int
) -> dict[str, float]:
    """Gross ms per item less what the process burns idle over the same time."""
    return {
        name: round(value - idle.get(name, 0.0) * elapsed_s * 1000 / max(count, 1), 2)
        for name, value in gross.items()
    }


async def run_media(run: Run) -> dict[str, Any]:
    idle = await _idle_rates(run)
    texts = run.messages(run.scale(10, 4), 5)  # 500 (quick: 200) across 10 tenants
    before, started = run.cpu_now(), time.monotonic()
    _, text_result = await run.send_and_collect(
        texts, TEXT_RATE, ModelDelay(), send_timeout_s=120, drain_timeout_s=120
    )
    text_cpu = _per(before, run.cpu_now(), len(texts))
    text_net = _beyond_idle(text_cpu, idle, time.monotonic() - started, len(texts))

    ids = await _register_voice(run)
    notes = _voice_notes(run, ids, run.scale(20, 5))  # 200 (quick: 50)
    start_resolved, start_sent = await resolved(run), await run.deliveries()
    before, started = run.cpu_now(), time.monotonic()
    sent = await open_loop(run.pool, notes, VOICE_RATE, 120)
    acked = sum(1 for entry in sent if entry.status == 200)
    await _wait(run, start_resolved + acked, 180)
    replied = await run.wait_deliveries(start_sent + acked, 120)
    elapsed = time.monotonic() - started
    done = await resolved(run)
    voice_cpu = _per(before, run.cpu_now(), acked)
    audio = (await run.http.get(run.stack.groq.url + "/_fake/audio/requests")).json()
    return {
        "idle_cpu_pct": {name: round(rate * 100, 2) for name, rate in idle.items()},
        "text_messages": len(texts),
        "text_replies": text_result.replies,
        "media_cpu_ms_per_text_message": text_cpu.get("media"),
        "media_cpu_ms_per_text_message_beyond_idle": text_net.get("media"),
        "voice_notes": len(notes),
        "voice_acked": acked,
        "voice_resolved": int(done - start_resolved),
        "voice_replied": int(replied - start_sent),
        "transcriptions": len(audio),
        "voice_s": round(elapsed, 1),
        "voice_rate": round((done - start_resolved) / elapsed, 1) if elapsed else None,  # /s
        "cpu_ms_per_voice_note": voice_cpu,
        "cpu_ms_per_voice_note_beyond_idle": _beyond_idle(voice_cpu, idle, elapsed, acked),
    }
