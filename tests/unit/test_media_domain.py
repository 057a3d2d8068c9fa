import hashlib

import pytest

from services.media.adapters.transcribe import _iso
from services.media.domain.resolve import (
    MB,
    MediaFailure,
    audio_filename,
    billed_audio_seconds,
    check_sha256,
    check_size,
    polite_text,
)
from shared.contracts.media import MediaKind


def test_caps_follow_meta() -> None:
    check_size(MediaKind.AUDIO, 16 * MB)
    check_size(MediaKind.DOCUMENT, 100 * MB)
    for kind, size in ((MediaKind.AUDIO, 16 * MB + 1), (MediaKind.IMAGE, 5 * MB + 1)):
        with pytest.raises(MediaFailure, match="too_large"):
            check_size(kind, size)


def test_sha256_is_checked_when_known() -> None:
    check_sha256(b"abc", hashlib.sha256(b"abc").hexdigest().upper())
    check_sha256(b"abc", None)
    with pytest.raises(MediaFailure, match="sha256_mismatch"):
        check_sha256(b"abd", hashlib.sha256(b"abc").hexdigest())


def test_polite_texts_default_to_french_and_can_be_overridden() -> None:
    assert "vocal" in polite_text(MediaKind.AUDIO, None)
    assert "voice note" in polite_text(MediaKind.AUDIO, "en-GB")
    assert "vocal" in polite_text(MediaKind.AUDIO, "xx")
    assert polite_text(MediaKind.IMAGE, "fr", {"image": "Custom"}) == "Custom"


def test_polite_texts_follow_the_customers_language_when_one_exists() -> None:
    # Whisper heard Spanish: the built-in Spanish text wins over the tenant's French.
    assert "mensaje de voz" in polite_text(MediaKind.AUDIO, "fr", None, "es")
    assert "mensaje de voz" in polite_text(MediaKind.AUDIO, "fr", {"audio": "Perso"}, "es")
    # Same language as the tenant: the tenant's own text stays.
    assert polite_text(MediaKind.AUDIO, "fr", {"audio": "Perso"}, "fr") == "Perso"
    # No built-in text for the customer's language: the tenant's language.
    assert "vocal" in polite_text(MediaKind.AUDIO, "fr", None, "sw")
    assert "Sprachnachricht" in polite_text(MediaKind.AUDIO, "de")


def test_voice_notes_are_uploaded_as_ogg_and_billed_ten_seconds_at_least() -> None:
    assert audio_filename("audio/ogg; codecs=opus") == "audio.ogg"
    assert audio_filename(None) == "audio.ogg"
    assert audio_filename("audio/mpeg") == "audio.mp3"
    assert billed_audio_seconds(3.2) == 10.0 and billed_audio_seconds(42.5) == 42.5
    assert billed_audio_seconds(None) == 10.0
    assert _iso("French") == "fr" and _iso("en") == "en"


def test_policies_follow_the_tenants_media_settings() -> None:
    import uuid

    from services.media.domain.policy import MediaPolicies
    from shared.contracts.config_events import MediaSettingsChanged

    user = uuid.uuid4()
    policies = MediaPolicies()
    assert policies.for_user(user).vision_model is None
    policies.apply(
        MediaSettingsChanged(
            user_id=user, vision_model="llava", text_language="en", polite_texts={"image": "Hi"}
        )
    )
    policy = policies.for_user(user)
    assert (policy.vision_model, policy.language, policy.texts) == ("llava", "en", {"image": "Hi"})
    assert policies.for_user(uuid.uuid4()).vision_model is None


def test_the_timeline_shows_the_transcript_never_the_image() -> None:
    from services.config.domain.projection import summarize

    summary = summarize(
        "MediaResolved",
        {"kind": "audio", "outcome": "transcribed", "text": "bonjour", "image_data_url": "data:x"},
        identified=True,
    )
    assert summary == {"kind": "audio", "outcome": "transcribed", "text": "bonjour"}
