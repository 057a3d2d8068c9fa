"""The settings UI's pages for the key pool, conversation and media settings, conversations
usage and limits, in Chromium against the real stack: a key checked by (fake) Groq and a model
picked from what it can use, settings saved and read back, a conversation with real traffic
paused, usage charts drawn from real replies, an account's limits set by the administrator and
seen by the tenant, no secret in the page, 360 px and axe-core."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.ui import PHONE, axe_violations, go, horizontal_overflow, open_ui, screenshot
from tests.support.stack import Stack
from tests.support.tokens import admin_token, user_token

pytestmark = pytest.mark.e2e

NEW_TENANT_PAGES = ["/groq-keys", "/settings", "/conversations", "/usage"]


async def _fill(page: Page, name: str, value: str) -> None:
    await page.locator(f'[name="{name}"]').fill(value)


async def _save(page: Page, form: str) -> None:
    await page.get_by_role("form", name=form).get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("form", name=form).get_by_role("status")).to_have_text(
        "Enregistré.", timeout=15_000
    )


async def _until(
    read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], timeout: float = 30
) -> Any:
    """Reads until `done` holds (projections and the outbox make some reads lag a little)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if done(value):
            return value
        assert time.monotonic() < deadline, value
        await asyncio.sleep(0.2)


async def _get(stack: Stack, path: str, headers: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()


async def test_add_a_key_pick_models_from_its_list_and_no_secret_leaks(
    browser: Browser, stack: Stack
) -> None:
    tenant, _number = await stack.new_tenant(None)
    pool_key = f"gsk_pool_{uuid.uuid4().hex}"
    config_key = f"gsk_cfg_{uuid.uuid4().hex}"
    ui = await open_ui(browser, stack, user_token(stack.jwt_secret, tenant), path="/groq-keys")
    page = ui.page
    add = page.get_by_role("form", name="Ajouter une clé")
    await expect(page.get_by_text("Aucune clé dans la réserve")).to_be_visible()

    # Checked before sending: nothing reaches the API.
    await add.locator('[name="api_key"]').fill("sk-not-a-groq-key")
    await add.get_by_role("button", name="Enregistrer").click()
    await expect(add.get_by_text("« gsk_ » suivi de lettres")).to_be_visible()

    await add.locator('[name="api_key"]').fill(pool_key)
    await add.locator('[name="label"]').fill("principale")
    await add.locator('[name="organization"]').fill("org-navigateur")
    await add.get_by_role("button", name="Enregistrer").click()
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="principale"))
    await expect(card.get_by_text(f"gsk_…{pool_key[-4:]}")).to_be_visible(timeout=15_000)
    await expect(card.locator('[data-testid^="key-status-"]')).to_have_text("active")
    await expect(card).to_contain_text("org-navigateur")
    assert await add.locator('[name="api_key"]').input_value() == ""

    # The fallback model is picked from what (fake) Groq lists for that key.
    fallback = page.get_by_label("Modèle de repli (si votre modèle est retiré)")
    await expect(fallback.locator('option[value="openai/gpt-oss-20b"]')).to_have_count(1)
    await fallback.select_option("openai/gpt-oss-20b")
    await _save(page, "Modèles de secours")
    await screenshot(page, "10-groq-keys")

    # The Groq page's model field is now that list too.
    await go(page, "/groq")
    model = page.get_by_role("combobox", name="Modèle")
    await expect(model.locator('option[value="qwen/qwen3-32b"]')).to_have_count(1)
    await model.select_option("qwen/qwen3-32b")
    await _fill(page, "api_key", config_key)
    await _save(page, "Modèle Groq")

    pool = await _get(stack, "/v1/me/groq-keys", stack.user(tenant))
    assert pool["fallback_model"] == "openai/gpt-oss-20b"
    assert pool["model"] == "qwen/qwen3-32b"
    assert [key["label"] for key in pool["keys"]] == ["principale"]

    # Both pages again: the choices are read back, and no secret is anywhere.
    await go(page, "/groq-keys")
    await expect(page.get_by_label("Modèle de repli (si votre modèle est retiré)")).to_have_value(
        "openai/gpt-oss-20b"
    )
    for path in ("/groq", "/groq-keys"):
        await go(page, path)
        await page.wait_for_load_state("networkidle")
        html = await page.content()
        assert pool_key not in html and config_key not in html, path
    storage = await page.evaluate("() => JSON.stringify([localStorage, sessionStorage])")
    assert pool_key not in storage and config_key not in storage
    assert ui.bodies
    assert not [body for body in ui.bodies if pool_key in body or config_key in body]
    await ui.close()


async def test_conversation_and_media_settings_are_saved_and_shown_back(
    browser: Browser, stack: Stack
) -> None:
    tenant, _number = await stack.new_tenant(None)
    ui = await open_ui(browser, stack, user_token(stack.jwt_secret, tenant), path="/settings")
    page = ui.page
    form = page.get_by_role("form", name="Réglages des conversations")
    await expect(form.locator('[name="turn_quiet_ms"]')).to_have_value("2000")

    await _fill(page, "turn_quiet_ms", "3000")
    await _fill(page, "turn_max_ms", "1000")
    await form.get_by_role("button", name="Enregistrer").click()
    await expect(form.get_by_text("ne peut pas être plus courte que le silence")).to_be_visible()

    await _fill(page, "turn_max_ms", "9000")
    await _fill(page, "human_expiry_min", "90")
    await _fill(page, "handoff_phrases", "un conseiller\nparler à une personne")
    await _fill(page, "reengagement_template", "relance_client")
    await _fill(page, "template_language", "en_US")
    await form.get_by_label("Marquer les messages comme lus").uncheck()
    await _save(page, "Réglages des conversations")

    media = page.get_by_role("form", name="Réglages des médias")
    await _fill(page, "vision_model", "meta-llama/llama-4-scout-17b-16e-instruct")
    await _fill(page, "language_hint", "fr")
    await media.locator('[name="polite_sticker"]').fill("Joli autocollant !")
    await _save(page, "Réglages des médias")
    await screenshot(page, "11-settings")

    # Another page and back: what shows is what the API reads back.
    await go(page, "/usage")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Consommation")
    await go(page, "/settings")
    form = page.get_by_role("form", name="Réglages des conversations")
    await expect(form.locator('[name="turn_max_ms"]')).to_have_value("9000")
    await expect(form.locator('[name="turn_quiet_ms"]')).to_have_value("3000")
    await expect(form.locator('[name="human_expiry_min"]')).to_have_value("90")
    await expect(form.locator('[name="handoff_phrases"]')).to_have_value(
        "un conseiller\nparler à une personne"
    )
    await expect(form.get_by_label("Marquer les messages comme lus")).not_to_be_checked()
    await expect(page.locator('[name="polite_sticker"]')).to_have_value("Joli autocollant !")
    settings = await _get(stack, "/v1/me/conversation-settings", stack.user(tenant))
    assert settings["human_expiry_s"] == 5400
    assert settings["reengagement_template"] == "relance_client"
    assert settings["read_receipts"] is False
    await ui.close()


async def test_pause_a_conversation_with_traffic_and_every_conversation(
    browser: Browser, stack: Stack
) -> None:
    tenant, number = await stack.new_tenant(f"gsk_conv_{uuid.uuid4().hex}")
    answered = await stack.chat(number, "Bonjour, une question")
    assert answered.status_code == 200, answered.text
    listed = await _until(
        lambda: _get(stack, "/v1/me/conversations", stack.user(tenant)),
        lambda page: page["total"] >= 1,
    )
    conversation = listed["items"][0]
    key = conversation["conversation_key"]

    ui = await open_ui(browser, stack, user_token(stack.jwt_secret, tenant), path="/conversations")
    page = ui.page
    owner = page.get_by_test_id(f"owner-{key}")
    await expect(owner).to_have_text("Bot")
    switch = page.get_by_role("switch", name=f"Bot actif pour {conversation['customer_phone']}")
    await expect(switch).to_have_attribute("aria-checked", "true")
    await switch.click()
    await expect(owner).to_contain_text("En pause jusqu'au")
    await expect(owner).to_contain_text("(par vous)")
    await expect(switch).to_have_attribute("aria-checked", "false")

    # The state the UI shows is the API's own (the projection, read again).
    await _until(
        lambda: _get(stack, "/v1/me/conversations", stack.user(tenant)),
        lambda page: page["items"][0]["owner"]["owner"] == "paused",
    )
    await page.get_by_role("button", name="Actualiser").click()
    await expect(owner).to_contain_text("En pause")

    everyone = page.get_by_role("switch", name="Bot actif pour toutes les conversations")
    await everyone.click()
    await expect(page.get_by_test_id("tenant-owner")).to_contain_text("En pause")
    await screenshot(page, "12-conversations")
    await everyone.click()
    await expect(page.get_by_test_id("tenant-owner")).to_have_text("Bot (par vous)")
    await switch.click()
    await expect(owner).to_have_text("Bot (par vous)")
    await ui.close()


async def test_usage_charts_render_from_real_traffic(browser: Browser, stack: Stack) -> None:
    tenant, number = await stack.new_tenant(f"gsk_usage_{uuid.uuid4().hex}")
    for text in ("premier", "second"):
        answered = await stack.chat(number, f"usage {text}")
        assert answered.status_code == 200, answered.text
    await _until(
        lambda: _get(stack, "/v1/me/usage", stack.user(tenant)),
        lambda usage: sum(row["requests"] for row in usage["rows"]) >= 2,
    )

    ui = await open_ui(browser, stack, user_token(stack.jwt_secret, tenant), path="/usage")
    page = ui.page
    chart = page.get_by_test_id("chart-usage")
    await expect(chart.locator(".recharts-bar-rectangle").first).to_be_visible(timeout=15_000)
    await expect(page.get_by_test_id("usage-totals")).to_contain_text("2 requête(s)")
    await page.get_by_label("Mesure").select_option("tokens")
    await expect(page.get_by_role("heading", name="Jetons")).to_be_visible()
    # A range the API would refuse is caught first.
    await _fill(page, "from", "2026-02-01")
    await _fill(page, "to", "2026-01-01")
    await page.get_by_role("button", name="Afficher").click()
    await expect(page.get_by_text("La fin doit suivre le début")).to_be_visible()
    await go(page, "/conversations")
    await go(page, "/usage")
    await expect(chart.locator(".recharts-bar-rectangle").first).to_be_visible(timeout=15_000)
    await screenshot(page, "13-usage")
    await ui.close()

    admin = await open_ui(browser, stack, admin_token(stack.jwt_secret), path="/admin/usage")
    page = admin.page
    await _fill(page, "top", "1000")
    await page.get_by_role("button", name="Afficher").click()
    await expect(
        page.get_by_test_id("chart-admin-usage").locator(".recharts-bar-rectangle").first
    ).to_be_visible(timeout=15_000)
    await expect(page.get_by_role("cell", name=str(tenant))).to_be_visible()
    await screenshot(page, "14-admin-usage")
    await admin.close()


async def test_admin_sets_an_account_limits_and_the_tenant_sees_them_on_its_usage(
    browser: Browser, stack: Stack
) -> None:
    tenant, number = await stack.new_tenant(f"gsk_limits_{uuid.uuid4().hex}")
    answered = await stack.chat(number, "limites")
    assert answered.status_code == 200, answered.text
    await _until(
        lambda: _get(stack, "/v1/me/usage", stack.user(tenant)),
        lambda usage: sum(row["requests"] for row in usage["rows"]) >= 1,
    )
    system = await _get(stack, "/v1/admin/limits", stack.admin())
    default = {k: v for k, v in system.items() if k not in ("applies", "updated_at")}
    try:
        admin = await open_ui(browser, stack, admin_token(stack.jwt_secret), path="/admin/limits")
        page = admin.page
        # The system default: a value outside the API's range is caught before sending.
        defaults = page.get_by_role("form", name="Par défaut (système)")
        await defaults.locator('[name="tokens_per_day"]').fill("10")
        await defaults.get_by_role("button", name="Enregistrer").click()
        await expect(defaults.get_by_text("entre 1000 et 1000000000")).to_be_visible()
        await defaults.locator('[name="tokens_per_day"]').fill("")
        await defaults.locator('[name="messages_per_minute"]').fill("100000")
        await _save(page, "Par défaut (système)")
        saved = await _get(stack, "/v1/admin/limits", stack.admin())
        assert saved["messages_per_minute"] == 100000, saved

        # The account: the system default applies until it gets limits of its own.
        await _fill(page, "user_id", str(tenant))
        await page.get_by_role("button", name="Voir ses limites").click()
        applies = page.get_by_test_id("tenant-applies")
        await expect(applies).to_contain_text("le réglage par défaut du système s'applique")
        own = page.get_by_role("form", name="Enregistrer ses propres limites")
        await own.locator('[name="messages_per_minute"]').fill("30")
        await own.locator('[name="tokens_per_day"]').fill("50000")
        await own.locator('[name="flood_per_minute"]').fill("5")
        await own.get_by_role("button", name="Enregistrer ses propres limites").click()
        await expect(applies).to_have_text("Ses propres limites s'appliquent.", timeout=15_000)
        await screenshot(page, "16-admin-limits")

        ui = await open_ui(browser, stack, user_token(stack.jwt_secret, tenant), path="/usage")
        mine = ui.page
        await expect(mine.get_by_test_id("my-limits-applies")).to_contain_text(
            "Des limites propres à votre compte", timeout=15_000
        )
        await expect(mine.get_by_test_id("my-limits-budget")).to_have_text(
            "Budget de jetons par jour : 50000."
        )
        await expect(mine.get_by_test_id("my-limits-rates")).to_contain_text(
            "Messages par minute : 30 ; anti-flood (messages par minute d'un même client) : 5."
        )
        await mine.get_by_label("Mesure").select_option("tokens")
        # The day's budget as a reference line (with its label) on the tokens chart.
        chart = mine.get_by_test_id("chart-usage")
        await expect(chart).to_contain_text("Budget : 50000 jetons/jour", timeout=15_000)

        # Back to the default, after a confirmation.
        await page.get_by_role("button", name="Revenir au réglage par défaut").click()
        await page.get_by_role("alertdialog").get_by_role("button", name="Confirmer").click()
        await expect(
            page.get_by_text("Le réglage par défaut s'applique de nouveau.")
        ).to_be_visible()
        await expect(applies).to_contain_text("le réglage par défaut du système s'applique")
        await go(mine, "/conversations")
        await go(mine, "/usage")
        await expect(mine.get_by_test_id("my-limits-applies")).to_have_text(
            "Le réglage par défaut du système s'applique.", timeout=15_000
        )
        await ui.close()
        await admin.close()
    finally:
        restored = await stack.config_call("PUT", "/v1/admin/limits", stack.admin(), default)
        assert restored.status_code == 200, restored.text


async def test_new_pages_with_data_fit_360px_and_pass_axe(browser: Browser, stack: Stack) -> None:
    tenant, number = await stack.new_tenant(f"gsk_phone_{uuid.uuid4().hex}")
    answered = await stack.chat(number, "360 px")
    assert answered.status_code == 200, answered.text
    added = await stack.config_call(
        "POST",
        "/v1/me/groq-keys",
        stack.user(tenant),
        {"api_key": f"gsk_phone_pool_{uuid.uuid4().hex}", "label": "téléphone"},
    )
    assert added.status_code in (200, 201), added.text
    await _until(
        lambda: _get(stack, "/v1/me/conversations", stack.user(tenant)),
        lambda page: page["total"] >= 1,
    )
    for token, paths in (
        (user_token(stack.jwt_secret, tenant), NEW_TENANT_PAGES),
        (admin_token(stack.jwt_secret), ["/admin/usage", "/admin/limits"]),
    ):
        ui = await open_ui(browser, stack, token, viewport=PHONE)
        page = ui.page
        for path in paths:
            await go(page, path)
            await page.wait_for_load_state("networkidle")
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            assert await horizontal_overflow(page) <= 0, path
            serious = await axe_violations(page)
            assert not serious, (path, [(v["id"], v["help"]) for v in serious])
            if path == "/groq-keys":
                await screenshot(page, "15-phone-groq-keys")
        await ui.close()
