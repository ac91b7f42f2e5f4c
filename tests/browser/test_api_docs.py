"""The API docs in a real browser cut off from everything but the test server: Swagger
UI draws the operations from this server's files alone, under the page's
Content-Security-Policy, without one violation."""

from __future__ import annotations

from playwright.sync_api import Browser, Route

from tests.browser.conftest import DESKTOP, Site

# Every CSP violation the page meets, reported where the test can read it.
WATCH = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def test_the_api_docs_work_offline_under_the_pages_policy(browser: Browser, site: Site):
    context = browser.new_context(viewport=DESKTOP)
    elsewhere: list[str] = []

    def refuse(route: Route) -> None:
        elsewhere.append(route.request.url)
        route.abort()

    context.route(lambda url: not url.startswith(site.base), refuse)
    try:
        page = context.new_page()
        page.add_init_script(WATCH)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(site.base + "/api/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        assert page.inner_text(".swagger-ui .info .title").startswith("makegood")
        page.wait_for_selector(".opblock")
        assert page.locator(".opblock").count() > 10
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any(p.startswith("/api/incidents") for p in paths)
        assert elsewhere == [] and errors == []
        assert page.evaluate("window.violations") == []

        # The watcher does see a violation: an inline script is refused by the policy.
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = true'; document.body.appendChild(s); }"
        )
        page.wait_for_function("window.violations.length > 0")
        assert page.evaluate("window.ran === undefined")
    finally:
        context.close()
