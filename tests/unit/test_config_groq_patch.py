"""The pure parts of `PATCH /v1/me/groq-config` and the model status (issue 16)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.config.api.schemas import GroqConfigPatch
from services.config.domain.key_pool import decommissioned_status, model_status_for
from shared.groq_models import DEFAULT_CHAT_MODEL


def test_the_status_names_the_fallback_only_while_the_model_is_unavailable() -> None:
    settings = {"unavailable_models": ["old"], "fallback_model": "spare", "model_status": "x"}
    assert model_status_for("old", settings) == decommissioned_status("old", "spare")
    assert model_status_for("new", settings) == ""
    assert model_status_for("old", None) == ""
    without = {**settings, "fallback_model": None}
    assert DEFAULT_CHAT_MODEL in model_status_for("old", without)


def test_a_patch_names_something_and_never_nulls_the_key_model_or_temperature() -> None:
    assert GroqConfigPatch.model_validate({"model": "m"}).model_fields_set == {"model"}
    cleared = GroqConfigPatch.model_validate({"fallback_model": None})
    assert cleared.model_fields_set == {"fallback_model"} and cleared.fallback_model is None
    for bad in (
        {},
        {"api_key": None},
        {"model": None},
        {"temperature": None},
        {"temperature": 2.5},
        {"api_key": ""},
        {"model": "x\x00"},
        {"other": 1},
    ):
        with pytest.raises(ValidationError):
            GroqConfigPatch.model_validate(bad)
