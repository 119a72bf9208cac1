"""The loan officer's page in a real headless Chromium against a real uvicorn server.

Expected numbers are computed here with the scoring core on the same model bundle, so the page
must show what the model says, not merely "something".
"""
from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect

from features.clean import CleanColumns
from tests.local_server import CHROMIUM, CHROMIUM_ARGS, background_server
from tests.answers_json import as_json, record

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (.ci/run installs it)")
TIMEOUT_MS = 20_000
AXE = Path(__file__).with_name("assets") / "axe.min.js"  # axe-core, vendored as a test asset (MPL-2.0)
SHOTS_COPY = os.environ.get("TECHSCORE_SHOTS_DIR")  # e.g. /tmp/techscore-shots: copies for a report


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def api_key(tmp_path_factory) -> tuple[Path, str]:
    from service.api.auth import create_key

    keys = tmp_path_factory.mktemp("web-keys") / "keys.json"
    _, secret = create_key(keys, "officer", "officer-web")
    return keys, secret


@pytest.fixture(scope="module")
def server(model_dir, api_key, tmp_path_factory):
    """A real uvicorn server on a free loopback port, stopped at the end of the module."""
    from service.api.app import create_app
    from service.api.settings import Settings

    db = tmp_path_factory.mktemp("web-db") / "audit.db"
    settings = Settings(model_dir=model_dir, database_url=f"sqlite:///{db}", keys_file=api_key[0])
    with background_server(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Screenshot directory (a tmp dir); `shots(name)` is the path of one picture."""
    root = tmp_path_factory.mktemp("web-shots")
    yield lambda name: root / name
    if SHOTS_COPY:
        Path(SHOTS_COPY).mkdir(parents=True, exist_ok=True)
        for f in root.iterdir():
            shutil.copy2(f, Path(SHOTS_COPY) / f.name)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield b
        b.close()


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server + "/")
    pg.wait_for_selector("body[data-ready=true]")
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def direct_scorer(model_dir):
    """The served bundle scored directly: the numbers the page must show."""
    from models.bundle import load_bundle
    from models.scoring import Scorer

    return Scorer(load_bundle(model_dir)[0])


@pytest.fixture(scope="module")
def score_of(direct_scorer):
    from features.schema import FirmProfile
    from features.validate import profiles_to_frame

    def score(profile: dict) -> dict:
        frame = profiles_to_frame([FirmProfile.model_validate(profile)])
        return record(direct_scorer.score(CleanColumns.from_frame(frame)), 0)

    return score


def sign_in(page, secret: str) -> None:
    page.fill("#api-key", secret)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#view-assess:not([hidden])")


def score_example(page, which: str) -> None:
    page.click(f"[data-example={which}]")
    page.click("#submit-score")
    page.wait_for_selector("#result-score")


# ---------------------------------------------------------------------------------- tests
def test_wrong_key_is_refused_and_the_key_lives_in_session_storage_only(page, api_key):
    page.fill("#api-key", "ts_not-a-key")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).not_to_be_empty()  # (the page's CSP forbids eval: no wait_for_function)
    assert "API 密钥无效" in page.text_content("#signin-error")
    assert page.is_visible("#view-signin") and not page.is_visible("#view-assess")

    sign_in(page, api_key[1])
    assert page.evaluate("sessionStorage.getItem('techscore.apiKey')") == api_key[1]
    assert page.evaluate("JSON.stringify(localStorage)").find(api_key[1]) < 0
    page.click("#sign-out")
    assert page.evaluate("sessionStorage.getItem('techscore.apiKey')") is None
    assert page.is_visible("#view-signin")


def test_form_is_grouped_by_dimension_with_labels_units_and_examples(page, api_key):
    from features.registry import DIMENSIONS
    from features.schema import FIELD_NAMES, example_profiles

    sign_in(page, api_key[1])
    legends = page.locator("#form-sections legend").all_text_contents()
    assert legends[1:7] == [zh for zh, _ in DIMENSIONS.values()]
    assert page.locator("#form-sections input, #form-sections select").count() == len(FIELD_NAMES)
    assert page.text_content("label[for=f-revenue_y0] span") == "营业收入(当年)"
    assert page.text_content("label[for=f-revenue_y0] .unit") == "万元"

    page.click("[data-example=mature]")
    mature = example_profiles()["mature"]
    assert page.input_value("#f-firm_id") == mature["firm_id"]
    assert float(page.input_value("#f-revenue_y0")) == mature["revenue_y0"]
    assert page.input_value("#f-state_fund_backed") == "true"

    page.click("#lang-en")
    assert page.text_content("label[for=f-revenue_y0] span") == "Revenue, latest year"
    assert page.text_content("label[for=f-revenue_y0] .unit") == "10k CNY"
    assert page.locator("#form-sections legend").nth(1).text_content() == "Technology & IP"


def test_validation_messages_from_the_api_appear_next_to_each_field(page, api_key):
    sign_in(page, api_key[1])
    page.click("[data-example=growth]")
    page.fill("#f-revenue_y0", "abc")
    page.fill("#f-top5_customer_share", "1.7")
    page.click("#submit-score")
    page.wait_for_selector("#e-revenue_y0 div")
    assert "营业收入(当年)(revenue_y0)不是有效数字" in page.text_content("#e-revenue_y0")
    assert "[规则 type:number]" in page.text_content("#e-revenue_y0")
    assert "应不大于 1" in page.text_content("#e-top5_customer_share")
    assert page.text_content("#e-rd_staff") == ""  # a valid field carries no message
    assert "invalid" in page.get_attribute("#f-revenue_y0", "class")
    assert not page.is_visible("#result")

    page.click("#lang-en")  # the same messages, in English
    assert "Revenue, latest year (revenue_y0) is not a valid number" in page.text_content("#e-revenue_y0")
    assert "must be ≤ 1" in page.text_content("#e-top5_customer_share")


def test_score_radar_points_reasons_what_if_and_screenshot(page, api_key, score_of, shots):
    from features.schema import example_profiles

    growth = example_profiles()["growth"]
    expected = score_of(growth)
    sign_in(page, api_key[1])
    score_example(page, "growth")

    assert page.text_content("#result-score") == f"{expected['score']:.2f}"
    assert page.text_content("#result-grade") == expected["grade"]
    # radar: six axes with the firm's ratings, the stage median drawn at 50
    labels = page.locator("#radar svg text[data-dimension]")
    assert labels.count() == 6
    for d in expected["dimensions"]:
        text = page.text_content(f"#radar svg text[data-dimension={d['key']}]")
        assert text == f"{d['label_zh']}{d['rating']:.1f}"
    assert page.locator("#radar polygon.median").count() == 1
    assert page.locator("#radar polygon.firm").count() == 1
    # dimension points shown add up to the score shown
    cells = page.locator("#points-table tbody tr td:nth-child(2)").all_text_contents()
    parts = [float(c.replace("−", "-").replace("+", "")) for c in cells[:-1]]
    assert len(parts) == 8 and round(sum(parts), 2) == float(cells[-1]) == expected["score"]
    # reasons in the chosen language, in the model's order
    down = page.locator("#reasons-down li")
    assert [down.nth(i).get_attribute("data-code") for i in range(down.count())] == [
        r["code"] for r in expected["reasons_down"]]
    assert expected["reasons_down"][0]["text_zh"] in down.first.text_content()
    assert page.locator("#reasons-up li").count() == len(expected["reasons_up"])
    page.click("#lang-en")
    assert expected["reasons_down"][0]["text_en"] in page.locator("#reasons-down li").first.text_content()
    assert page.text_content("#radar svg text[data-dimension=tech_ip]").startswith("Technology & IP")
    page.screenshot(path=str(shots("result.png")), full_page=True)

    # what-if: change a value, see the score re-computed live (the page offers the fields behind
    # the reasons; any other field can be added)
    whatif_field(page, "redemption_clause").select_option("false")
    changed = dict(growth, redemption_clause=False)
    want = f"{score_of(changed)['score']:.2f}"
    expect(page.locator("#whatif-score")).to_have_text(want)
    whatif_field(page, "staff_total").fill("200")
    changed["staff_total"] = 200
    want = f"{score_of(changed)['score']:.2f}"
    expect(page.locator("#whatif-score")).to_have_text(want)
    delta = score_of(changed)["score"] - expected["score"]
    assert page.text_content("#whatif-delta").replace("−", "-") == f"({delta:+.2f})"
    assert page.text_content("#result-score") == f"{expected['score']:.2f}"  # the assessment itself is unchanged
    page.screenshot(path=str(shots("what-if.png")), full_page=True)


def whatif_field(page, name: str):
    """The what-if input of a field, added from the field picker when the reasons did not bring it."""
    if not page.locator(f"#w-{name}").count():
        page.select_option("#whatif-add", name)
    return page.locator(f"#w-{name}")


def test_recommendation_shows_limit_products_and_joint_loan_split(page, api_key, score_of):
    from features.schema import example_profiles

    rec = score_of(example_profiles()["growth"])["recommendation"]
    sign_in(page, api_key[1])
    score_example(page, "growth")
    assert page.text_content("#rec-decision") == {"approve": "建议批准", "refer": "提交人工审批", "decline": "建议拒绝",
                                                   "outside_segment": "不属于产品客群(评分仅供参考)"}[rec["decision"]]
    assert page.text_content("#rec-limit") == f"{rec['limit']:,.0f} 万元"
    codes = page.locator("#rec-products li").evaluate_all("els => els.map(e => e.dataset.code)")
    assert codes == [p["code"] for p in rec["products"]]
    assert rec["products"][0]["name_zh"] in page.text_content("#rec-products")
    if rec["joint_loan"]:  # a limit above one bank's appetite
        rows = page.locator("#rec-joint tbody tr")
        assert rows.count() == rec["joint_loan"]["banks"] >= 2
        amounts = [float(a.replace(",", "").split()[0]) for a in page.locator("#rec-joint td:nth-child(2)").all_text_contents()]
        assert sum(amounts) == rec["limit"]


def test_next_grade_suggestion_can_be_tried_in_the_what_if(page, api_key, direct_scorer):
    from features.schema import example_profiles
    from models.whatif import next_grade

    found = {k: as_json(next_grade(direct_scorer, p, date.today())) for k, p in example_profiles().items()}
    reachable = [k for k, r in found.items() if r["reachable"]]
    assert reachable, "the example firms should include one that can move up a grade"
    which, expected = reachable[0], found[reachable[0]]
    sign_in(page, api_key[1])
    score_example(page, which)
    page.click("#next-grade")
    page.wait_for_selector("#next-grade-out")
    assert f"提升至 {expected['target_grade']}" in page.text_content("#next-grade-out")
    assert page.locator("#next-grade-out li").count() == len(expected["steps"])
    page.click("#next-grade-apply")
    page.wait_for_selector("#whatif-grade")
    assert page.text_content("#whatif-grade") == expected["result"]["after"]["grade"]
    for field, value in expected["changes"].items():
        assert page.input_value(f"#w-{field}") == str(value)


def test_history_reopens_an_assessment_exactly_as_stored(page, api_key):
    parts = ("#result-score", "#result-grade", "#result-pd", "#radar", "#points-table", "#knockouts",
             "#reasons-down", "#reasons-up", "#recommendation")
    sign_in(page, api_key[1])
    score_example(page, "startup")
    shown = {p: page.inner_html(p) for p in parts}
    assessment = page.text_content("#result-assessment-id")
    page.click("[data-example=mature]")  # the form moves on to another firm
    page.click("#tabs [data-tab=history]")
    row = page.locator(f"#history-table tr[data-id='{assessment}']")
    row.wait_for()
    assert "苏州澄视智能科技有限公司" in row.text_content()
    row.locator("button").click()
    page.wait_for_selector("#stored-banner")
    assert page.text_content("#result-assessment-id") == assessment
    assert {p: page.inner_html(p) for p in parts} == shown
    # the stored input is back in the form: form and result describe the same firm
    assert page.input_value("#f-name") == "苏州澄视智能科技有限公司"
    assert page.text_content("#result-firm-name") == "苏州澄视智能科技有限公司"
    assert page.input_value("#f-firm_id") == page.text_content("#result-firm-id")


def test_batch_upload_shows_progress_and_downloads_scored_file_and_rejects(page, api_key, direct_scorer, tmp_path,
                                                                           shots):
    from features.validate import validate_frame
    from training.synthetic import generate

    firms = generate(12, seed=11).drop(columns=["default_12m", "true_pd"])
    firms.loc[3, "staff_total"] = 10
    firms.loc[3, "rd_staff"] = 10_000  # more R&D staff than staff: row 3 is rejected
    src = tmp_path / "firms.csv"
    firms.to_csv(src, index=False)
    raw = pd.read_csv(src, dtype=str, keep_default_na=False, na_values=[""])
    checked = validate_frame(raw, as_of_default=date.today())  # what the page must report
    bad = sorted(set(checked.rejects["row"]))
    assert 3 in bad and len(bad) < len(firms)

    sign_in(page, api_key[1])
    page.click("#tabs [data-tab=batch]")
    page.set_input_files("#batch-file", str(src))
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#download-scored")
    assert page.text_content("#batch-stage") == "完成"
    assert page.get_attribute("#batch-progress", "value") == "100"
    summary = f"共 12 行：评分 {12 - len(bad)} 行，拒绝 {len(bad)} 行"
    assert summary in page.text_content("#batch-summary")
    # the summary: grade distribution, decisions and the rules rows were rejected by
    want = direct_scorer.score(checked.clean)
    grades = page.locator("#batch-grades tbody tr").evaluate_all(
        "rows => rows.map(r => [r.cells[0].textContent, Number(r.cells[1].textContent)])")
    assert dict(grades) == dict(pd.Series(want.grade).value_counts())
    decisions = page.locator("#batch-decisions tbody tr").evaluate_all(
        "rows => rows.map(r => Number(r.cells[1].textContent))")
    assert sum(decisions) == 12 - len(bad)
    rules = page.locator("#batch-rules tbody tr th").all_text_contents()
    assert "rd_staff_le_staff" in rules
    page.screenshot(path=str(shots("batch.png")))

    with page.expect_download() as dl:
        page.click("#download-scored")
    assert dl.value.suggested_filename == "firms.scored.csv"
    scored = pd.read_csv(dl.value.path())
    assert list(scored["row"]) == [r for r in range(12) if r not in bad]
    assert "error" not in scored.columns
    assert list(scored["score"]) == list(direct_scorer.score(checked.clean).score)
    with page.expect_download() as dl:
        page.click("#download-rejects")
    rejects = pd.read_csv(dl.value.path())
    assert list(rejects["row"]) == bad
    assert "rd_staff_le_staff" in rejects.loc[rejects["row"] == 3, "error"].iloc[0]

    # every scored row is in the officer's history and re-opens as stored
    first = scored.iloc[0]
    page.click("#tabs [data-tab=history]")
    row = page.locator(f"#history-table tr[data-id='{first['assessment_id']}']")
    row.wait_for()
    assert "CSV" in row.text_content()
    page.screenshot(path=str(shots("history.png")))
    row.locator("button").click()
    page.wait_for_selector("#stored-banner")
    assert page.text_content("#result-score") == f"{first['score']:.2f}"
    assert page.text_content("#result-grade") == first["grade"]
    assert page.locator("#radar svg text[data-dimension]").count() == 6
    assert page.locator("#reasons-down li").count() == first.filter(like="reason_down_").notna().sum()
    assert page.text_content("#rec-limit") == f"{first['limit']:,.0f} 万元"




# ---------------------------------------------------------------------------------- a working day
# Failure states, Chinese throughout, the firm named, the memo, history paging, phone layouts,
# keyboard and axe-core (issue 17).
DESKTOP, TABLET, PHONE = (1366, 768), (768, 1024), (390, 844)


def new_page(browser, server, size=DESKTOP, bypass_csp=False):
    """A fresh tab on the page (its own sessionStorage) at `size`; JavaScript errors are collected."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, bypass_csp=bypass_csp,
                                  accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("console", lambda m: pg.errors.append(m.text)
          if m.type == "error" and "Content Security Policy" in m.text else None)
    pg.goto(server + "/")
    pg.wait_for_selector("body[data-ready=true]")
    return pg


def fail_next(page, pattern: str, status: int, body: dict | None = None, headers: dict | None = None) -> None:
    """Answer the next request matching `pattern` with `status` and a problem document (as the API would)."""
    problem = body or {"type": "urn:techscore:problem:x", "title": "x", "status": status, "detail": "x"}

    page.route(pattern, lambda route: route.fulfill(status=status, content_type="application/problem+json",
                                                    body=json.dumps(problem), headers=headers or {}), times=1)


def axe_counts(page) -> dict:
    """axe-core on the page as it is: violations by impact, with the rule ids of the serious ones."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))""")
    impacts = ("critical", "serious", "moderate", "minor")
    counts = {k: sum(v["nodes"] for v in found if v["impact"] == k) for k in impacts}
    counts["rules"] = sorted({f"{v['id']}:{v['impact']}" for v in found})
    return counts


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for sel in ("#sign-out", "#lang-en", "#tabs"):
        if page.is_visible(sel):
            box = page.locator(sel).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, sel


def test_server_down_every_place_says_so_and_the_old_result_is_marked(browser, model_dir, api_key, tmp_path, shots):
    """A server of its own, stopped mid-session: each action fails loudly where it was taken."""
    from service.api.app import create_app
    from service.api.settings import Settings

    settings = Settings(model_dir=model_dir, database_url=f"sqlite:///{tmp_path / 'audit.db'}", keys_file=api_key[0])
    with background_server(create_app(settings)) as url:
        page = new_page(browser, url)
        sign_in(page, api_key[1])
        score_example(page, "growth")
        score = page.text_content("#result-score")
    # the server is gone
    whatif_field(page, "invention_patents_granted").fill("+5")
    expect(page.locator("#whatif-error")).to_contain_text("无法连接评分服务")
    assert "尚未修改任何数值" not in page.text_content("#whatif-out")
    page.click("#next-grade")
    expect(page.locator("#next-grade-out")).to_contain_text("未能求得提升路径：无法连接评分服务")
    assert page.is_enabled("#next-grade")  # it can be tried again

    page.fill("#f-staff_total", "170")
    page.click("#submit-score")
    expect(page.locator("#stale-banner")).to_be_visible()
    assert "无法连接评分服务" in page.text_content("#form-error")
    assert page.text_content("#result-score") == score and "stale" in page.get_attribute("#result", "class")
    assert page.is_enabled("#submit-score") and page.text_content("#submit-score") == "提交评分"
    page.screenshot(path=str(shots("server-down-assess-desktop.png")), full_page=True)

    page.click("#tabs [data-tab=history]")
    expect(page.locator("#history-error")).to_contain_text("无法加载评估记录：无法连接评分服务")
    assert "暂无评估记录" not in page.text_content("#history-table")

    page.click("#tabs [data-tab=batch]")
    src = tmp_path / "firms.csv"
    src.write_text("firm_id,revenue_y0\n91440300MA5DK7QX24,100\n", encoding="utf-8")
    page.set_input_files("#batch-file", str(src))
    page.click("#batch-form button[type=submit]")
    expect(page.locator("#batch-error")).to_contain_text("批量评分失败：无法连接评分服务")
    assert page.text_content("#batch-stage") == "失败"
    page.click("#lang-en")  # the same messages in English
    assert "Cannot reach the scoring service" in page.text_content("#batch-error")
    assert page.text_content("#batch-stage") == "Failed"
    assert not page.errors, page.errors
    page.context.close()


@pytest.mark.parametrize("status, headers, zh, en", [
    (403, {}, "当前密钥无权执行此操作", "This key may not do that"),
    (413, {}, "提交的内容过大(上限 64 KB)", "too large (limit 64 KB)"),
    (429, {"Retry-After": "30"}, "请求过于频繁，请 30 秒后重试", "try again in 30 s"),
    (500, {}, "评分服务内部错误(HTTP 500)", "The scoring service failed (HTTP 500)"),
    (503, {"Retry-After": "5"}, "评分服务暂时不可用", "unavailable right now"),
    (502, {}, "评分服务内部错误(HTTP 502)", "(HTTP 502)"),
])
def test_each_http_failure_has_its_own_message_in_both_languages(browser, server, api_key, status, headers, zh, en):
    page = new_page(browser, server)
    sign_in(page, api_key[1])
    score_example(page, "startup")
    body = {"type": "urn:techscore:problem:x", "title": "x", "status": status,
            "detail": "request body exceeds the limit of 65,536 bytes" if status == 413 else "boom"}
    fail_next(page, "**/v1/scores", status, body, headers)
    page.click("#submit-score")
    expect(page.locator("#form-error")).to_contain_text(zh)
    assert page.is_visible("#stale-banner")
    page.click("#lang-en")
    assert en in page.text_content("#form-error")
    assert not page.errors, page.errors
    page.context.close()


def test_a_request_that_never_answers_times_out_with_a_message(browser, server, api_key):
    page = new_page(browser, server)
    page.clock.install()  # the page's 30 s timeout runs on this clock
    sign_in(page, api_key[1])
    page.click("[data-example=growth]")
    held = []
    page.route("**/v1/scores", lambda route: held.append(route))  # never answered
    page.click("#submit-score")
    page.wait_for_function("() => true")  # let the request leave
    expect(page.locator("#submit-score")).to_be_disabled()
    page.clock.run_for(31_000)
    expect(page.locator("#form-error")).to_contain_text("评分服务在 30 秒内未响应")
    assert page.is_enabled("#submit-score")
    page.unroute("**/v1/scores")
    page.context.close()


def test_an_expired_key_signs_in_again_with_everything_typed_kept(browser, server, api_key, score_of):
    from features.schema import example_profiles

    page = new_page(browser, server)
    sign_in(page, api_key[1])
    page.click("[data-example=mature]")
    page.fill("#f-name", "自填企业名称有限公司")
    page.fill("#f-revenue_y0", "41000")
    fields = page.locator("#form-sections input, #form-sections select")
    typed = fields.evaluate_all("els => els.map(e => e.value)")
    fail_next(page, "**/v1/scores", 401)
    page.click("#submit-score")
    expect(page.locator("#signin-error")).to_contain_text("登录已失效，请重新登录；已填写的内容会保留")
    assert page.is_visible("#view-signin") and not page.is_visible("#view-assess")
    assert page.evaluate("sessionStorage.getItem('techscore.apiKey')") is None
    assert page.evaluate("document.activeElement.id") == "signin-title"
    sign_in(page, api_key[1])
    assert fields.evaluate_all("els => els.map(e => e.value)") == typed
    page.click("#submit-score")
    page.wait_for_selector("#result-score")
    want = score_of(example_profiles()["mature"] | {"name": "自填企业名称有限公司", "revenue_y0": 41000})
    assert page.text_content("#result-score") == f"{want['score']:.2f}"
    page.context.close()


def test_what_if_plus_five_adds_five(page, api_key, score_of):
    from features.schema import example_profiles

    growth = example_profiles()["growth"]
    sign_in(page, api_key[1])
    score_example(page, "growth")
    box = whatif_field(page, "invention_patents_granted")
    box.fill("+5")
    added = score_of(growth | {"invention_patents_granted": growth["invention_patents_granted"] + 5})
    expect(page.locator("#whatif-score")).to_have_text(f"{added['score']:.2f}")
    box.fill("-3")  # takes three away
    fewer = score_of(growth | {"invention_patents_granted": growth["invention_patents_granted"] - 3})
    expect(page.locator("#whatif-score")).to_have_text(f"{fewer['score']:.2f}")
    box.fill("+50%")
    scaled = score_of(growth | {"invention_patents_granted": round(growth["invention_patents_granted"] * 1.5)})
    expect(page.locator("#whatif-score")).to_have_text(f"{scaled['score']:.2f}")
    box.fill("5")  # a plain number is the new value
    set5 = score_of(growth | {"invention_patents_granted": 5})
    expect(page.locator("#whatif-score")).to_have_text(f"{set5['score']:.2f}")
    box.fill("+x")
    expect(page.locator("#whatif-error")).to_contain_text("发明专利授权数：无法理解“+x”")


def test_result_names_the_firm_with_requested_amount_and_decision_banner(page, api_key, score_of):
    from features.schema import example_profiles

    mature = example_profiles()["growth"]  # inside the product segment: a limit > 0
    rec = score_of(mature)["recommendation"]
    sign_in(page, api_key[1])
    score_example(page, "growth")
    assert page.text_content("#result-firm-name") == mature["name"]
    assert page.text_content("#result-firm-id") == mature["firm_id"]
    banner = page.locator("#decision-banner")
    assert f"banner-{rec['decision']}" in banner.get_attribute("class")
    assert page.text_content("#rec-requested") == f"{mature['requested_amount']:,.0f} 万元"
    assert page.text_content("#rec-limit") == f"{rec['limit']:,.0f} 万元"
    page.click("#lang-en")
    assert page.text_content("#rec-limit") == _cny(rec["limit"])
    assert page.text_content("#rec-requested") == _cny(mature["requested_amount"])


def _cny(wan: float) -> str:
    """An amount in 万元 as the English page writes it: millions from 100 万元 up, yuan below."""
    return f"CNY {wan / 100:,.2f} million" if abs(wan) >= 100 else f"CNY {wan * 10_000:,.0f}"


def test_chinese_page_has_no_english_or_raw_codes_and_english_page_no_chinese(page, api_key):
    from features.enum_labels import VALUE_LABELS
    from features.schema import FIELD_NAMES

    sign_in(page, api_key[1])
    options = page.locator("#f-security_type option").all_text_contents()
    assert options == ["—"] + [VALUE_LABELS[v][0] for v in ("credit", "ip_pledge", "guarantee")]
    assert "比例(0–1)" in page.text_content("label[for=f-top5_customer_share]")
    score_example(page, "growth")
    shown = page.text_content("#result")
    raw = [w for w in re.findall(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+", shown) if w in FIELD_NAMES or "." in w]
    assert not raw, raw
    assert not re.search(r"decision\.|joint_loan\.|grade_factors|caps\.|at least|below|\(firm:", shown)
    assert "不低于" in page.text_content("#rec-rule")
    for name in ("pre_ipo", "little_giant", "hnte", "normal", "ip_pledge", "growth"):  # enum codes never shown
        assert not re.search(rf"(?<![\w.]){name}(?![\w])", shown), name
    assert "share 0-1" not in page.text_content("body") and "10k CNY" not in shown

    page.click("#lang-en")
    assert page.locator("#f-security_type option").nth(2).text_content() == VALUE_LABELS["ip_pledge"][1]
    assert not re.search(r"[\u4e00-\u9fff]", page.text_content("#recommendation").replace(
        page.text_content("#result-firm-name"), "")), "Chinese left on the English page"


def test_next_grade_without_a_path_answers_in_chinese(page, api_key, direct_scorer):
    from features.schema import example_profiles
    from models.whatif import next_grade

    found = {k: as_json(next_grade(direct_scorer, p, date.today())) for k, p in example_profiles().items()}
    which = next(k for k, r in found.items() if not r["reachable"])
    sign_in(page, api_key[1])
    score_example(page, which)
    page.click("#next-grade")
    out = page.locator("#next-grade-out")
    expect(out).to_be_visible()
    assert re.search(r"[\u4e00-\u9fff]", out.text_content()) and "no path" not in out.text_content()
    assert "realistic" not in out.text_content() and "already" not in out.text_content()


def test_a_missing_credit_code_is_named_next_to_its_field_without_the_profile(page, api_key):
    sign_in(page, api_key[1])
    page.click("[data-example=growth]")
    page.fill("#f-firm_id", "")
    page.click("#submit-score")
    page.wait_for_selector("#e-firm_id div")
    text = page.text_content("#e-firm_id")
    assert "统一社会信用代码(firm_id)为必填项" in text
    assert "{" not in text and "datetime" not in text and "深圳" not in text
    # the invalid field is marked for assistive technology and receives the focus
    assert page.get_attribute("#f-firm_id", "aria-invalid") == "true"
    assert page.get_attribute("#f-firm_id", "aria-describedby") == "e-firm_id"
    assert page.evaluate("document.activeElement.id") == "f-firm_id"


def test_credit_memo_prints_on_one_page_with_everything_a_committee_needs(page, api_key, tmp_path, shots):
    sign_in(page, api_key[1])
    score_example(page, "mature")
    page.emulate_media(media="print")
    for sel in ("#result-firm-name", "#result-firm-id", "#result-score", "#result-grade", "#result-pd",
                "#radar svg", "#points-table", "#reasons-down", "#reasons-up", "#rec-steps", "#rec-decision",
                "#result-model-version", "#result-policy-version", "#result-assessment-id", ".memo-head"):
        assert page.is_visible(sel), sel
    for sel in (".form-card", ".topbar", "#whatif", "#print-memo"):
        assert not page.is_visible(sel), sel
    assert "×" in page.text_content("#rec-steps")  # the arithmetic, not only its result
    pdf = tmp_path / "memo.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    assert _pdf_pages(pdf.read_bytes()) == 1
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi, for the picture
    page.screenshot(path=str(shots("memo-print-a4.png")), full_page=True)
    page.emulate_media(media="screen")


def _pdf_pages(data: bytes) -> int:
    """Pages of a PDF: Chromium writes one '/Type /Page' object per page (plus one '/Type /Pages')."""
    return len(re.findall(rb"/Type\s*/Page(?!s)", data))


def test_history_pages_and_finds_a_firm_by_name_or_credit_code(browser, server, api_key):
    import httpx

    from features.schema import example_profiles, make_uscc

    base = example_profiles()["startup"]
    codes = [make_uscc(f"9132050{n:010d}") for n in range(22)]
    with httpx.Client(base_url=server, headers={"X-API-Key": api_key[1]}) as client:
        for n, code in enumerate(codes):
            client.post("/v1/scores", json=base | {"firm_id": code, "name": f"无锡翻页{n:02d}电子有限公司"}).raise_for_status()
    page = new_page(browser, server)
    sign_in(page, api_key[1])
    page.click("#tabs [data-tab=history]")
    page.fill("#history-q", "无锡翻页")
    page.press("#history-q", "Enter")
    expect(page.locator("#history-page")).to_have_text("第 1–20 条，共 22 条")
    assert page.locator("#history-table tbody tr").count() == 20
    assert page.is_disabled("#history-prev")
    page.click("#history-next")
    expect(page.locator("#history-page")).to_have_text("第 21–22 条，共 22 条")
    assert page.locator("#history-table tbody tr .code").all_text_contents() == codes[1::-1]
    assert page.is_disabled("#history-next")
    page.fill("#history-q", codes[9])
    page.click("#history-form button[type=submit]")
    expect(page.locator("#history-page")).to_have_text("第 1–1 条，共 1 条")
    assert "无锡翻页09电子有限公司" in page.text_content("#history-table tbody")
    page.fill("#history-q", "没有这家企业")
    page.press("#history-q", "Enter")
    expect(page.locator("#history-table tbody")).to_contain_text("没有符合“没有这家企业”的评估记录")
    page.context.close()


def test_keyboard_skip_link_focus_on_result_and_tabs(page, api_key):
    sign_in(page, api_key[1])
    assert page.evaluate("document.activeElement.id") == "assess-title"  # focus follows the sign-in
    page.reload()  # the session's key signs in again; the first tab stops are the skip links
    page.wait_for_selector("body[data-ready=true]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip-submit"
    page.click("[data-example=growth]")
    page.focus("#skip-submit")
    page.keyboard.press("Enter")  # straight to the submit button, past ~90 fields
    assert page.evaluate("document.activeElement.id") == "submit-score"
    page.keyboard.press("Enter")
    page.wait_for_selector("#result-score")
    assert page.evaluate("document.activeElement.id") == "result-title"
    tabs = page.locator("#tabs [role=tab]")
    assert tabs.evaluate_all("ts => ts.map(t => t.getAttribute('aria-selected'))") == ["true", "false", "false"]
    page.focus("#tab-assess")
    page.keyboard.press("ArrowRight")
    assert tabs.evaluate_all("ts => ts.map(t => t.getAttribute('aria-selected'))") == ["false", "true", "false"]
    assert page.is_visible("#view-history") and page.evaluate("document.activeElement.id") == "tab-history"


def _tour(page, api_key, tmp_path, shoot) -> dict:
    """Every view of the page in turn: `shoot(name)` is called on each (screenshot, layout, axe)."""
    from training.synthetic import generate

    out = {}
    out["signin"] = shoot("signin")
    page.fill("#api-key", "ts_wrong")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).not_to_be_empty()
    out["signin-error"] = shoot("signin-error")
    sign_in(page, api_key[1])
    page.click("[data-example=growth]")
    out["form"] = shoot("form")
    page.fill("#f-revenue_y0", "abc")
    page.click("#submit-score")
    page.wait_for_selector("#e-revenue_y0 div")
    out["form-errors"] = shoot("form-errors")
    page.click("[data-example=mature]")
    page.click("#submit-score")
    page.wait_for_selector("#result-score")
    whatif_field(page, "staff_total").fill("+20")
    page.wait_for_selector("#whatif-score")
    out["result"] = shoot("result")
    page.click("#lang-en")
    out["result-en"] = shoot("result-en")
    page.click("#lang-zh")
    fail_next(page, "**/v1/scores", 503)
    page.click("#submit-score")
    page.wait_for_selector("#stale-banner")
    out["failure"] = shoot("failure")
    page.click("#tabs [data-tab=history]")
    page.wait_for_selector("#history-table tbody tr[data-id]")
    out["history"] = shoot("history")
    page.click("#tabs [data-tab=batch]")
    firms = generate(8, seed=5).drop(columns=["default_12m", "true_pd"])
    firms.loc[2, ["staff_total", "rd_staff"]] = [10, 10_000]  # a reject, for the summary of rules
    src = tmp_path / "tour.csv"
    firms.to_csv(src, index=False)
    page.set_input_files("#batch-file", str(src))
    page.click("#batch-form button[type=submit]")
    page.wait_for_selector("#batch-rules")
    out["batch"] = shoot("batch")
    return out


@pytest.mark.parametrize("size", [DESKTOP, TABLET, PHONE], ids=["desktop", "tablet", "phone"])
def test_every_view_fits_the_screen_passes_axe_and_is_photographed(browser, server, api_key, tmp_path, shots, size):
    """Each view at 1366×768, 768×1024 and 390×844: no horizontal scroll, sign-out and language in
    reach, 0 critical and 0 serious axe-core violations; a screenshot of each."""
    page = new_page(browser, server, size, bypass_csp=True)  # axe-core is injected as a script
    label = {DESKTOP: "desktop", TABLET: "tablet", PHONE: "phone"}[size]

    def shoot(view: str) -> dict:
        no_horizontal_scroll(page)
        page.screenshot(path=str(shots(f"{view}-{label}.png")), full_page=True)
        return axe_counts(page)

    counts = _tour(page, api_key, tmp_path, shoot)
    shots(f"axe-{label}.json").write_text(json.dumps(counts, indent=1), encoding="utf-8")
    bad = {view: c["rules"] for view, c in counts.items() if c["critical"] or c["serious"]}
    assert not bad, bad
    assert not page.errors, page.errors
    page.context.close()


def test_the_page_runs_under_its_content_security_policy(browser, server, api_key):
    """No inline script or style is needed: a full session raises no CSP violation."""
    page = new_page(browser, server)
    assert "script-src 'self'" in page.evaluate("fetch('/').then(r => r.headers.get('content-security-policy'))")
    sign_in(page, api_key[1])
    score_example(page, "mature")
    page.click("#next-grade")
    page.wait_for_selector("#next-grade-out")
    page.click("#tabs [data-tab=history]")
    page.wait_for_selector("#history-table tbody tr[data-id]")
    assert not page.errors, page.errors
    page.context.close()


def test_a_file_that_cannot_be_read_is_explained_in_the_officers_language(page, api_key, tmp_path):
    src = tmp_path / "empty.csv"
    src.write_bytes(b"")
    sign_in(page, api_key[1])
    page.click("#tabs [data-tab=batch]")
    page.set_input_files("#batch-file", str(src))
    page.click("#batch-form button[type=submit]")
    expect(page.locator("#batch-error")).to_contain_text("文件为空")  # the Chinese half of the server's message
    assert "the file is empty" not in page.text_content("#batch-error")
    assert page.text_content("#batch-stage") == "失败"
    page.click("#lang-en")
    assert "the file is empty" in page.text_content("#batch-error").lower()
