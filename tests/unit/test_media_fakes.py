import base64
import hashlib
import io

from fastapi.testclient import TestClient
from PIL import Image

from fakes import graph, groq


def test_transcription_is_derived_from_the_file_and_recorded() -> None:
    client = TestClient(groq.build_app())
    answer = client.post(
        "/openai/v1/audio/transcriptions",
        headers={"authorization": "Bearer gsk_tenant"},
        data={"model": "whisper-large-v3-turbo", "response_format": "verbose_json"},
        files={"file": ("voice.ogg", b"OggS-bytes", "audio/ogg")},
    )
    digest = hashlib.sha256(b"OggS-bytes").hexdigest()
    assert answer.status_code == 200
    assert answer.json()["text"] == f"transcript of {digest[:8]} voice.ogg"
    assert answer.json()["language"] == "fr"
    [seen] = client.get("/_fake/audio/requests").json()
    assert seen["authorization"] == "Bearer gsk_tenant" and seen["filename"] == "voice.ogg"
    assert seen["model"] == "whisper-large-v3-turbo" and seen["sha256"] == digest


def test_media_metadata_and_download_check_the_token_and_expire() -> None:
    client = TestClient(graph.build_app())
    client.post(
        "/_fake/media",
        json={
            "media_id": "M1",
            "token": "tok",
            "mime_type": "audio/ogg",
            "content_b64": base64.b64encode(b"abc").decode(),
        },
    )
    assert client.get("/v21.0/M1", headers={"authorization": "Bearer other"}).status_code == 401
    meta = client.get("/v21.0/M1", headers={"authorization": "Bearer tok"}).json()
    assert meta["sha256"] == hashlib.sha256(b"abc").hexdigest() and meta["file_size"] == 3
    url = meta["url"].removeprefix("http://testserver")
    assert client.get(url).status_code == 401
    client.post("/_fake/media/expire", json={"times": 1})
    assert client.get(url, headers={"authorization": "Bearer tok"}).status_code == 404
    assert client.get(url, headers={"authorization": "Bearer tok"}).content == b"abc"


def _jpeg_url(colour: tuple[int, int, int], size: tuple[int, int]) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    content = buffer.getvalue()
    return f"data:image/jpeg;base64,{base64.b64encode(content).decode()}", content


def _vision_body(url: str) -> dict[str, object]:
    return {
        "model": "meta-llama/llama-4-scout-17b-16e-instruct",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is it?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    }


def test_vision_request_is_answered_from_the_image_it_held() -> None:
    client = TestClient(groq.build_app())
    url, content = _jpeg_url((250, 0, 0), (40, 30))
    answer = client.post(
        "/openai/v1/chat/completions",
        headers={"authorization": "Bearer gsk_tenant"},
        json=_vision_body(url),
    )
    digest = hashlib.sha256(content).hexdigest()
    assert answer.status_code == 200
    text = answer.json()["choices"][0]["message"]["content"]
    assert f"sha256 {digest[:8]}" in text and "40x30 jpeg" in text
    [seen] = client.get("/_fake/vision/requests").json()
    assert seen["authorization"] == "Bearer gsk_tenant" and seen["texts"] == ["what is it?"]
    [image] = seen["images"]
    assert image["sha256"] == digest and image["size"] == len(content)
    assert image["centre_rgb"][0] > 200 and image["centre_rgb"][1] < 50
    # A plain chat call still reaches the chat fake, and the vision log does not grow.
    plain = client.post(
        "/openai/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert plain.json()["choices"][0]["message"]["content"] == "[m] reply to: hi"
    assert len(client.get("/_fake/vision/requests").json()) == 1


def test_vision_refuses_a_broken_image_and_fails_on_demand() -> None:
    client = TestClient(groq.build_app())
    broken = client.post(
        "/openai/v1/chat/completions", json=_vision_body("data:image/jpeg;base64,AAAA")
    )
    assert broken.status_code == 400
    client.post("/_fake/vision/fail", json={"status": 429, "times": 1})
    url, _ = _jpeg_url((0, 0, 0), (8, 8))
    assert client.post("/openai/v1/chat/completions", json=_vision_body(url)).status_code == 429
    assert client.post("/openai/v1/chat/completions", json=_vision_body(url)).status_code == 200
