"""The settings UI in Chromium against the real stack: sign-in, a tenant's settings and test
message, secrets kept out of the page, tenant isolation, the administrator's fallback switch,
monitoring charts from real data, the 360 px layout and axe-core's accessibility check."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import jwt
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.ui import PHONE, axe_violations, go, horizontal_overflow, open_ui, screenshot
from tests.support.running import TRACE_UI_URL
from tests.support.stack import Stack, random_number
from tests.support.tokens import admin_token, user_token

pytestmark = pytest.mark.e2e

TENANT_PAGES = [
    "/whatsapp",
    "/groq",
    "/groq-keys",
    "/settings",
    "/conversations",
    "/usage",
    "/test",
    "/twilio",
    "/links",
    "/audit",
]
ADMIN_PAGES = [
    "/admin/system",
    "/admin/monitoring",
    "/admin/timeline",
    "/admin/usage",
    "/admin/audit",
]


async def _fill(page: Page, name: str, value: str) -> None:
    await page.locator(f'[name="{name}"]').fill(value)


async def _save(page: Page, form: str) -> None:
    await page.get_by_role("form", name=form).get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("form", name=form).get_by_role("status")).to_have_text(
        "Enregistré.", timeout=15_000
    )


async def test_sign_in_by_pasted_token_and_by_dev_link(browser: Browser, stack: Stack) -> None:
    tenant = uuid.uuid4()
    token = user_token(stack.jwt_secret, tenant)
    ui = await open_ui(browser, stack, None)
    page = ui.page
    await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    await screenshot(page, "01-sign-in")
    assert not await axe_violations(page)

    # Keyboard: the language picker, then the token field, then the button.
    for _ in range(2):
        await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.id") == "token"
    # English on demand; French stays the default.
    await page.get_by_label("Langue").select_option("en")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_label("Language").select_option("fr")
    await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()

    await page.locator("#token").fill("not-a-jwt")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_test_id("signin-problem")).to_contain_text("pas un JWT")

    expired = user_token(stack.jwt_secret, tenant, ttl_s=-10)
    await page.locator("#token").fill(expired)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_test_id("signin-problem")).to_contain_text("expiré")

    await page.locator("#token").fill(token)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_test_id("who")).to_contain_text(str(tenant))
    await ui.close()

    # The dev link: the token arrives in the fragment and leaves the address bar at once.
    ui = await open_ui(browser, stack, token)
    await expect(ui.page.get_by_role("heading", name="Numéro WhatsApp")).to_be_visible()
    assert "token=" not in ui.page.url
    await ui.close()


async def test_a_token_the_api_refuses_sends_back_to_sign_in(
    browser: Browser, stack: Stack
) -> None:
    forged = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "role": "authenticated",
            "aud": "authenticated",
            "exp": int(time.time()) + 600,
        },
        "another-secret-that-is-long-enough-0123456789",
        algorithm="HS256",
    )
    ui = await open_ui(browser, stack, forged)
    await expect(ui.page.get_by_test_id("signin-problem")).to_contain_text("expiré", timeout=10_000)
    await ui.close()


async def test_tenant_configures_whatsapp_and_groq_and_gets_a_test_reply(
    browser: Browser, stack: Stack
) -> None:
    tenant = uuid.uuid4()
    number, number_id = random_number(), f"PN{uuid.uuid4().hex[:12]}"
    access_token = f"EAAsecret{uuid.uuid4().hex}"
    app_secret = f"appsecret{uuid.uuid4().hex}"
    verify_token = f"verify{uuid.uuid4().hex}"
    groq_key = f"gsk_browser{uuid.uuid4().hex}"
    ui = await open_ui(browser, stack, user_token(stack.jwt_secret, tenant))
    page = ui.page

    # Validation happens before anything is sent.
    await _fill(page, "phone_number_id", number_id)
    await _fill(page, "display_phone_number", "0612")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_text("format E.164, par ex.")).to_be_visible()

    await _fill(page, "display_phone_number", number)
    await _fill(page, "access_token", access_token)
    await _fill(page, "app_secret", app_secret)
    await _fill(page, "verify_token", verify_token)
    await _save(page, "Numéro WhatsApp")
    await expect(page.get_by_text(f"Enregistré : …{access_token[-4:]}")).to_be_visible()
    await expect(page.get_by_test_id("webhook-url")).to_have_text(
        f"{stack.gateway.url}/webhooks/whatsapp"
    )
    await screenshot(page, "02-whatsapp")

    await go(page, "/groq")
    await expect(page.get_by_text("Aucune configuration Groq")).to_be_visible()
    await _fill(page, "api_key", groq_key)
    await _fill(page, "temperature", "3")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_text("Un nombre entre 0 et 2.")).to_be_visible()
    await _fill(page, "temperature", "0.4")
    await _save(page, "Modèle Groq")
    await screenshot(page, "03-groq")

    await go(page, "/test")
    await expect(page.locator('[name="phoneNumber"]')).to_have_value(number)
    await _fill(page, "gateway_key", stack.gateway_key)
    await _fill(page, "text", "Bonjour depuis le navigateur")
    await page.get_by_role("button", name="Envoyer").click()
    reply = page.get_by_test_id("test-reply")
    await expect(reply).to_contain_text("reply to: Bonjour depuis le navigateur", timeout=60_000)
    trace_id = await page.get_by_test_id("trace-id").inner_text()
    assert len(trace_id) == 32
    await screenshot(page, "04-test-message")

    await go(page, "/audit")
    await expect(page.get_by_role("cell", name="whatsapp_config")).to_be_visible()
    await screenshot(page, "05-audit")

    # No secret in the DOM, in the page's storage, or in any answer the page received.
    secrets = [access_token, app_secret, verify_token, groq_key, stack.gateway_key]
    for path in TENANT_PAGES:
        await go(page, path)
        await page.wait_for_load_state("networkidle")
        html = await page.content()
        assert not [s for s in secrets if s in html], path
    storage = await page.evaluate("() => JSON.stringify([localStorage, sessionStorage])")
    assert not [s for s in secrets if s in storage]
    assert ui.bodies
    assert not [s for s in secrets if any(s in body for body in ui.bodies)]
    await ui.close()


async def test_tenant_a_never_sees_tenant_b(browser: Browser, stack: Stack) -> None:
    b_id, b_number = await stack.new_tenant(f"gsk_b_{uuid.uuid4().hex}")
    a_id = uuid.uuid4()
    a_number = random_number()
    await stack.put_whatsapp(a_id, a_number, f"pa{uuid.uuid4().hex[:12]}")
    ui = await open_ui(browser, stack, user_token(stack.jwt_secret, a_id))
    page = ui.page
    await expect(page.locator('[name="display_phone_number"]')).to_have_value(a_number)
    for path in TENANT_PAGES:
        await go(page, path)
        await page.wait_for_load_state("networkidle")
        html = await page.content()
        assert b_number not in html and str(b_id) not in html, path
    assert not [body for body in ui.bodies if str(b_id) in body or b_number in body]
    # B's number cannot be taken: the form shows the API's own words, and still nothing of B.
    await go(page, "/whatsapp")
    await _fill(page, "display_phone_number", b_number)
    await _fill(page, "access_token", f"EAA{uuid.uuid4().hex}")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(
        page.get_by_role("form", name="Numéro WhatsApp").get_by_role("alert")
    ).to_have_text("this phone number (or phone number id) is already active for another account")
    assert str(b_id) not in await page.content()
    # The administrator's pages are not offered to a tenant, and the API refuses them.
    await expect(page.get_by_role("link", name="Supervision")).to_have_count(0)
    await ui.close()


async def test_admin_turns_the_fallback_off_and_a_tenant_without_config_sees_it(
    browser: Browser, stack: Stack
) -> None:
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        before = (await client.get("/v1/system/settings", headers=stack.admin())).json()
    tenant, _number = await stack.new_tenant(None)
    try:
        await stack.set_fallback(True)
        admin = await open_ui(browser, stack, admin_token(stack.jwt_secret), path="/admin/system")
        page = admin.page
        await expect(page.get_by_test_id("fallback-state")).to_contain_text("Repli activé")
        await page.get_by_role("button", name="Désactiver le repli").click()
        confirm = page.get_by_test_id("confirm-off")
        await expect(confirm).to_contain_text("compte(s) sans configuration Groq")
        missing = int((await confirm.inner_text()).split(" ")[0])
        assert missing >= 1
        await screenshot(page, "06-admin-system")
        await page.get_by_role("button", name="Confirmer").click()
        await expect(page.get_by_test_id("fallback-state")).to_contain_text("Repli désactivé")
        await admin.close()
        async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
            after = await client.get("/v1/system/settings", headers=stack.admin())
        version = after.headers.get("x-config-version")
        assert after.json()["fallback_enabled"] is False
        if version:
            await stack.wait_config_applied(int(version))

        ui = await open_ui(browser, stack, user_token(stack.jwt_secret, tenant), path="/test")
        await expect(ui.page.locator('[name="phoneNumber"]')).to_have_value(_number)
        await _fill(ui.page, "gateway_key", stack.gateway_key)
        await ui.page.get_by_role("button", name="Envoyer").click()
        await expect(ui.page.get_by_test_id("config-required")).to_contain_text(
            "Configuration requise", timeout=60_000
        )
        await ui.close()
    finally:
        await stack.set_fallback(bool(before["fallback_enabled"]))


async def test_monitoring_charts_and_timeline_render_real_data(
    browser: Browser, stack: Stack
) -> None:
    _user, number = await stack.new_tenant(f"gsk_monitor_{uuid.uuid4().hex}")
    answered = await stack.chat(number, "monitoring from the browser")
    assert answered.status_code == 200, answered.text
    message_id, trace_id = answered.json()["messageId"], answered.json()["traceId"]
    async with httpx.AsyncClient(base_url=stack.config.url, timeout=10) as client:
        deadline = time.monotonic() + 20
        while True:
            timeline = await client.get(
                f"/v1/admin/messages/{message_id}/timeline", headers=stack.admin()
            )
            if timeline.status_code == 200 and len(timeline.json()["events"]) >= 3:
                break
            assert time.monotonic() < deadline, timeline.text
            await asyncio.sleep(0.2)
        coverage = (await client.get("/v1/admin/config-coverage", headers=stack.admin())).json()

    ui = await open_ui(browser, stack, admin_token(stack.jwt_secret), path="/admin/monitoring")
    page = ui.page
    chart = page.get_by_test_id("chart-identification")
    await expect(chart.locator(".recharts-bar-rectangle").first).to_be_visible(timeout=15_000)
    await expect(
        page.get_by_test_id("chart-coverage").locator(".recharts-pie-sector").first
    ).to_be_visible()
    counts = await page.get_by_test_id("coverage-counts").inner_text()
    assert f"Configurés: {coverage['configured']}" in counts.replace(" :", ":")
    await screenshot(page, "07-admin-monitoring")

    await go(page, "/admin/timeline")
    await _fill(page, "message_id", message_id)
    await page.get_by_role("button", name="Afficher").click()
    timeline_view = page.get_by_test_id("timeline")
    for step in ("MessageReceived", "UserIdentified", "ResponseGenerated"):
        await expect(timeline_view).to_contain_text(step)
    await expect(page.get_by_test_id("trace-link")).to_have_attribute(
        "href", f"{TRACE_UI_URL}/trace/{trace_id}"
    )
    await screenshot(page, "08-admin-timeline")
    await ui.close()


async def test_every_page_fits_360px_and_passes_axe(browser: Browser, stack: Stack) -> None:
    tenant, _number = await stack.new_tenant(f"gsk_phone_{uuid.uuid4().hex}")
    for token, paths in (
        (user_token(stack.jwt_secret, tenant), TENANT_PAGES),
        (admin_token(stack.jwt_secret), ADMIN_PAGES),
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
        if paths is TENANT_PAGES:
            await go(page, "/whatsapp")
            await page.wait_for_load_state("networkidle")
            await screenshot(page, "09-phone-whatsapp")
        await ui.close()


async def test_the_gateway_answers_the_ui_origin_without_credentials(stack: Stack) -> None:
    """The test-message box is a cross-origin call: allowed for any origin, never with
    cookies, and still refused without a gateway key."""
    origin = {"Origin": stack.config.url}
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=10) as client:
        preflight = await client.options(
            "/api-chatbot",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in preflight.headers
        body = {"text": "hi", "source": "ui-test", "phoneNumber": random_number()}
        refused = await client.post("/api-chatbot", json=body, headers=origin)
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "*"
