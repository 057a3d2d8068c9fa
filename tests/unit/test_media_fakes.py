import base64
import hashlib

from fastapi.testclient import TestClient

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
