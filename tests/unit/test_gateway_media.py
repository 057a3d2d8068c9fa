from services.gateway.domain.media import twilio_media, whatsapp_media
from shared.contracts.messages import MediaKind


def test_voice_note_is_a_media_ref() -> None:
    message = {
        "type": "audio",
        "audio": {
            "id": "MID1",
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "ab",
            "voice": True,
        },
    }
    ref = whatsapp_media(message)
    assert ref is not None
    assert (ref.kind, ref.media_id, ref.voice, ref.sha256) == (MediaKind.AUDIO, "MID1", True, "ab")


def test_image_caption_and_document_filename() -> None:
    image = whatsapp_media({"type": "image", "image": {"id": "I", "caption": "receipt"}})
    doc = whatsapp_media({"type": "document", "document": {"id": "D", "filename": "a.pdf"}})
    assert image is not None and image.caption == "receipt" and not image.voice
    assert doc is not None and doc.filename == "a.pdf"


def test_text_and_hostile_shapes_have_no_media() -> None:
    assert whatsapp_media({"type": "text", "text": {"body": "hi"}}) is None
    assert whatsapp_media({"type": "audio", "audio": ["x"]}) is None
    assert whatsapp_media({"type": "audio", "audio": {"id": 5}}) is None
    assert whatsapp_media({"type": ["audio"]}) is None


def test_twilio_keeps_only_the_media_path() -> None:
    path = "/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    ref = twilio_media(
        {
            "NumMedia": "1",
            "MediaUrl0": f"https://api.twilio.com{path}?token=secret",
            "MediaContentType0": "audio/ogg",
        }
    )
    assert ref is not None and ref.media_id == path and ref.kind is MediaKind.AUDIO and ref.voice
    assert "secret" not in ref.model_dump_json()
    assert twilio_media({"NumMedia": "0"}) is None
