"""Benchmark: the loan officer's page in headless Chromium vs a direct API call, same server, same run.

    .venv/bin/python bench/bench_web.py [--model var/model] [--repeat 30]

Baseline: POST /v1/scores with httpx (the API alone). Page: click "score" → result rendered
(radar, points, reasons, what-if panel), timed inside the page with performance.now(); and the
what-if round trip (value changed → new score shown). Ratios say what the page adds on top of the
API. Also prints the bytes of every static asset the page loads (it must work offline).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from features.schema import example_profiles  # noqa: E402
from models.bundle import DEFAULT_MODEL_DIR  # noqa: E402
from service.api.app import create_app  # noqa: E402
from service.api.auth import create_key  # noqa: E402
from tests.local_server import CHROMIUM, CHROMIUM_ARGS, background_server  # noqa: E402
from service.api.settings import Settings  # noqa: E402
from service.web.page import STATIC_DIR  # noqa: E402

# Click submit, then wait (one animation frame at a time) for a new assessment id to be rendered.
SUBMIT_JS = """async () => {
  const before = document.querySelector('#result-assessment-id')?.textContent;
  const t0 = performance.now();
  document.querySelector('#submit-score').click();
  while (document.querySelector('#result-assessment-id')?.textContent === before
         || !document.querySelector('#radar svg')) await new Promise(requestAnimationFrame);
  return performance.now() - t0;
}"""
# Type a value into a what-if box and wait for the answer to that edit (debounce included).
WHATIF_JS = """async ([id, value]) => {
  const box = document.querySelector(id);
  const before = document.querySelector('#whatif-out').dataset.seq;
  const t0 = performance.now();
  box.value = value;
  box.dispatchEvent(new Event('input'));
  while (document.querySelector('#whatif-out').dataset.seq === before
         || !document.querySelector('#whatif-score')) await new Promise(requestAnimationFrame);
  return performance.now() - t0;
}"""


def page_debounce_ms() -> float:
    """The what-if debounce the page waits before asking the API (read from app.js, not restated)."""
    text = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    return float(re.search(r"WHATIF_DEBOUNCE_MS = (\d+)", text).group(1))


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples)


def api_latencies(url: str, key: str, repeat: int) -> list[float]:
    body = example_profiles()["growth"]
    out = []
    with httpx.Client(base_url=url, headers={"X-API-Key": key}) as client:
        client.post("/v1/scores", json=body).raise_for_status()  # warm-up
        for _ in range(repeat):
            t0 = time.perf_counter()
            client.post("/v1/scores", json=body).raise_for_status()
            out.append(1000 * (time.perf_counter() - t0))
    return out


# Bytes of everything the page fetched (resource timing: on the wire, and decoded), by kind.
WEIGHT_JS = """() => {
  const all = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];
  return all.map(e => ({name: new URL(e.name).pathname, wire: e.transferSize, body: e.decodedBodySize}));
}"""


def cold_load(url: str, key: str, runs: int) -> tuple[list[float], list[float], list[dict]]:
    """Cold starts (new browser context: empty cache, no session): ms from navigation start to the
    page being interactive (sign-in usable, body[data-ready]) and to the form being usable after
    sign-in; and the bytes fetched by the last run."""
    ready, form = [], []
    entries: list[dict] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready=true]")
            ready.append(page.evaluate("performance.now()"))  # ms since this navigation started
            page.fill("#api-key", key)
            t0 = page.evaluate("performance.now()")
            page.click("#signin-form button[type=submit]")
            page.wait_for_selector("#f-revenue_y0")
            form.append(page.evaluate("performance.now()") - t0)
            entries = page.evaluate(WEIGHT_JS)
            context.close()
        browser.close()
    return ready, form, entries


def page_latencies(url: str, key: str, repeat: int) -> tuple[float, list[float], list[float]]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        t0 = time.perf_counter()
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.fill("#api-key", key)
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("#view-assess:not([hidden])")
        load_ms = 1000 * (time.perf_counter() - t0)
        page.click("[data-example=growth]")
        page.evaluate(SUBMIT_JS)  # warm-up
        submit = [page.evaluate(SUBMIT_JS) for _ in range(repeat)]
        if not page.locator("#w-staff_total").count():
            page.select_option("#whatif-add", "staff_total")
        whatif = [page.evaluate(WHATIF_JS, ["#w-staff_total", str(170 + i)]) for i in range(repeat)]
        browser.close()
    return load_ms, submit, whatif


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _, key = create_key(Path(tmp) / "keys.json", "officer")
        from models.trust import trust_bundle

        trust_bundle(Path(tmp) / "trusted.json", args.model, "bench")  # the benchmark's own registry
        settings = Settings(model_dir=args.model, database_url=f"sqlite:///{tmp}/audit.db",
                            keys_file=Path(tmp) / "keys.json", trusted_bundles_file=Path(tmp) / "trusted.json")
        with background_server(create_app(settings)) as url:
            api = api_latencies(url, key, args.repeat)
            load_ms, submit, whatif = page_latencies(url, key, args.repeat)
            ready, form, entries = cold_load(url, key, max(3, args.repeat // 6))
    assets = {p.name: p.stat().st_size for p in sorted(STATIC_DIR.iterdir())}
    print(f"static assets: {sum(assets.values()) / 1024:.1f} KiB in {len(assets)} files "
          f"({', '.join(f'{k} {v / 1024:.1f}' for k, v in assets.items())})")
    static = [e for e in entries if not e["name"].startswith("/v1/")]
    api_meta = [e for e in entries if e["name"].startswith("/v1/")]
    def kib(rows: list[dict], key: str) -> str:
        return f"{sum(e[key] for e in rows) / 1024:.1f}"

    print(f"page weight, cold (gzip on the wire / decoded): page {kib(static, 'wire')} / {kib(static, 'body')} KiB "
          f"in {len(static)} requests; after sign-in the form metadata and examples {kib(api_meta, 'wire')} / "
          f"{kib(api_meta, 'body')} KiB")
    print(f"time to interactive, cold, loopback (navigation → sign-in usable), median of {len(ready)}: "
          f"{median_ms(ready):8.1f} ms; sign-in → form usable: {median_ms(form):8.1f} ms")
    print(f"page load + sign-in (form metadata and examples):     {load_ms:8.1f} ms")
    print(f"API alone, POST /v1/scores (httpx), median of {args.repeat}:    {median_ms(api):8.1f} ms")
    print(f"page, submit → result rendered, median of {args.repeat}:        {median_ms(submit):8.1f} ms"
          f"   ratio {median_ms(submit) / median_ms(api):.2f} × API alone")
    net = median_ms(whatif) - page_debounce_ms()
    print(f"page, what-if edit → new score shown, median of {args.repeat}:  {median_ms(whatif):8.1f} ms"
          f"   ({page_debounce_ms():.0f} ms of it is the typing debounce; the rest {net:.1f} ms"
          f" = {net / median_ms(api):.2f} × API alone)")


if __name__ == "__main__":
    main()
