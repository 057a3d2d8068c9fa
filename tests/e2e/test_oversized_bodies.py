"""A body over the limit is answered 413 JSON that ordinary clients can read (issue 13):
Python's urllib, httpx, curl and Node's fetch, each ten times, at 1 MB and 5 MB.

Before, the gateway answered without reading the body and closed the connection: the
client, still sending, got a broken pipe or a reset instead of the answer."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

RUNS = 10
SIZES = [1_000_000, 5_000_000]
TOO_LARGE = {"success": False, "retryable": False}


def _headers(stack: Stack) -> dict[str, str]:
    return {"authorization": f"Bearer {stack.gateway_key}", "content-type": "application/json"}


def _check(status: int, text: str) -> None:
    assert status == 413, text
    body = json.loads(text)
    assert {k: body[k] for k in TOO_LARGE} == TOO_LARGE
    assert "larger than" in body["error"]


def _urllib_refusal(url: str, data: bytes, headers: dict[str, str]) -> urllib.error.HTTPError:
    """POST with urllib, which raises on a 4xx: the answer, or the error it got instead."""
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (http URL)
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)  # noqa: S310
    return answer.value


@pytest.mark.parametrize("size", SIZES)
def test_urllib_reads_the_413(stack: Stack, size: int) -> None:
    for _ in range(RUNS):
        answer = _urllib_refusal(f"{stack.gateway.url}/api-chatbot", b"x" * size, _headers(stack))
        _check(answer.code, answer.read().decode())


@pytest.mark.parametrize("size", SIZES)
async def test_httpx_reads_the_413_on_one_kept_alive_connection(stack: Stack, size: int) -> None:
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30, limits=limits) as client:
        for _ in range(RUNS):
            response = await client.post(
                "/api-chatbot", content=b"x" * size, headers=_headers(stack)
            )
            _check(response.status_code, response.text)
        # the drained connection stays usable: a good request follows on it
        assert (
            await client.post("/api-chatbot", json={}, headers=_headers(stack))
        ).status_code == 422


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("expect", ["100-continue", ""], ids=["expect-100", "no-expect"])
def test_curl_reads_the_413(stack: Stack, size: int, expect: str, tmp_path: Path) -> None:
    """curl asks `Expect: 100-continue` for large bodies and gets the 413 without sending
    it; with the header switched off it sends the body and the gateway drains it."""
    body = tmp_path / "body.json"
    body.write_bytes(b"x" * size)
    for _ in range(RUNS):
        done = subprocess.run(
            [
                "curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}",
                "-H", f"Authorization: Bearer {stack.gateway_key}",
                "-H", "Content-Type: application/json",
                "-H", f"Expect: {expect}",
                "--data-binary", f"@{body}",
                f"{stack.gateway.url}/api-chatbot",
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        text, _, status = done.stdout.rpartition("\n")
        _check(int(status), text)


NODE_FETCH = """
const [url, key, size, runs] = process.argv.slice(1);
const body = Buffer.alloc(Number(size), 120);
(async () => {
  const answers = [];
  for (let i = 0; i < Number(runs); i++) {
    try {
      const r = await fetch(url, {method: "POST", body,
        headers: {authorization: `Bearer ${key}`, "content-type": "application/json"}});
      answers.push({status: r.status, text: await r.text()});
    } catch (e) {
      answers.push({status: 0, text: String(e.cause || e)});
    }
  }
  console.log(JSON.stringify(answers));
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("size", SIZES)
def test_node_fetch_reads_the_413(stack: Stack, size: int) -> None:
    done = subprocess.run(
        ["node", "-e", NODE_FETCH, f"{stack.gateway.url}/api-chatbot", stack.gateway_key,
         str(size), str(RUNS)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    answers = json.loads(done.stdout)
    assert len(answers) == RUNS
    for answer in answers:
        _check(answer["status"], answer["text"])


def test_an_unauthorized_large_body_gets_its_401_too(stack: Stack) -> None:
    headers = {"authorization": "Bearer wrong", "content-type": "application/json"}
    for _ in range(RUNS):
        answer = _urllib_refusal(f"{stack.gateway.url}/api-chatbot", b"x" * 5_000_000, headers)
        assert answer.code == 401


def test_an_oversized_webhook_gets_its_413(stack: Stack) -> None:
    url, headers = f"{stack.gateway.url}/webhooks/whatsapp", {"content-type": "application/json"}
    for _ in range(RUNS):
        answer = _urllib_refusal(url, b"x" * 5_000_000, headers)
        assert answer.code == 413
        assert json.loads(answer.read()) == {"success": False, "error": "payload too large"}
