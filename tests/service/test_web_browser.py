"""The loan officer's page in a real headless Chromium against a real uvicorn server.

Expected numbers are computed here with the scoring core on the same model bundle, so the page
must show what the model says, not merely "something".
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from service.local_server import CHROMIUM, CHROMIUM_ARGS, background_server

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian chromium is not installed (.ci/run installs it)")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"
TIMEOUT_MS = 20_000


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def api_key(tmp_path_factory) -> tuple[Path, str]:
    from service.auth import create_key

    keys = tmp_path_factory.mktemp("web-keys") / "keys.json"
    _, secret = create_key(keys, "officer", "officer-web")
    return keys, secret


@pytest.fixture(scope="module")
def server(model_dir, api_key, tmp_path_factory):
    """A real uvicorn server on a free loopback port, stopped at the end of the module."""
    from service.app import create_app
    from service.settings import Settings

    db = tmp_path_factory.mktemp("web-db") / "audit.db"
    settings = Settings(model_dir=model_dir, database_url=f"sqlite:///{db}", keys_file=api_key[0])
    with background_server(create_app(settings)) as url:
        yield url


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
        return direct_scorer.score_frame(frame).record(0)

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
    page.wait_for_function("document.querySelector('#signin-error').textContent.length > 0")
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


def test_score_radar_points_reasons_what_if_and_screenshot(page, api_key, score_of):
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
    page.screenshot(path=str(_artifact("result.png")), full_page=True)

    # what-if: change a value, see the score re-computed live (the page offers the fields behind
    # the reasons; any other field can be added)
    whatif_field(page, "redemption_clause").select_option("false")
    changed = dict(growth, redemption_clause=False)
    want = f"{score_of(changed)['score']:.2f}"
    page.wait_for_function(f"document.querySelector('#whatif-score')?.textContent === '{want}'")
    whatif_field(page, "staff_total").fill("200")
    changed["staff_total"] = 200
    want = f"{score_of(changed)['score']:.2f}"
    page.wait_for_function(f"document.querySelector('#whatif-score')?.textContent === '{want}'")
    delta = score_of(changed)["score"] - expected["score"]
    assert page.text_content("#whatif-delta").replace("−", "-") == f"({delta:+.2f})"
    assert page.text_content("#result-score") == f"{expected['score']:.2f}"  # the assessment itself is unchanged
    page.screenshot(path=str(_artifact("what-if.png")), full_page=True)


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

    found = {k: next_grade(direct_scorer, p, date.today()) for k, p in example_profiles().items()}
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
    page.click("#stored-banner button")  # the stored input goes back into the form
    assert page.input_value("#f-name") == "苏州澄视智能科技有限公司"


def test_batch_upload_shows_progress_and_downloads_scored_file_and_rejects(page, api_key, direct_scorer, tmp_path):
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
    page.screenshot(path=str(_artifact("batch.png")))

    with page.expect_download() as dl:
        page.click("#download-scored")
    assert dl.value.suggested_filename == "firms.scored.csv"
    scored = pd.read_csv(dl.value.path())
    assert list(scored["row"]) == [r for r in range(12) if r not in bad]
    assert "error" not in scored.columns
    assert list(scored["score"]) == list(direct_scorer.score_frame(checked.clean).score)
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
    page.screenshot(path=str(_artifact("history.png")))
    row.locator("button").click()
    page.wait_for_selector("#stored-banner")
    assert page.text_content("#result-score") == f"{first['score']:.2f}"
    assert page.text_content("#result-grade") == first["grade"]
    assert page.locator("#radar svg text[data-dimension]").count() == 6
    assert page.locator("#reasons-down li").count() == first.filter(like="reason_down_").notna().sum()
    assert page.text_content("#rec-limit") == f"{first['limit']:,.0f} 万元"


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
