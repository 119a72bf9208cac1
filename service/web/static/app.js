// TechScore loan officer's page: sign-in, profile form, result, what-if, memo, history, batch.
import * as api from "./api.js";
import { DERIVED_LABELS, DETAIL_TEXTS, RULE_TERMS, makeT, splitBilingual } from "./i18n.js";
import { radarChart } from "./radar.js";

const LANG_STORE = "techscore.lang";
const WHATIF_DEBOUNCE_MS = 300;
const WHATIF_MAX_FIELDS = 8;
const HISTORY_PAGE = 20;
const GRADE_ORDER = ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"];
// Limit-arithmetic steps that are ratios or counts rather than amounts in 万元.
const STEP_FORMATS = { net_margin: "pct", expected_growth: "pct", turnover: "times", grade_factor: "factor" };

const state = {
  lang: localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh",
  tab: "assess",
  form: null,            // GET /v1/form
  fields: {},            // field name -> spec
  indicators: {},        // indicator key -> {label_zh, label_en, inputs}
  examples: {},          // GET /v1/examples
  current: null,         // {result, recommendation, profile, firm, id, createdAt, stored, stale}
  whatIf: { changes: {}, extra: [], seq: 0, out: null, error: null, next: null },
  history: { items: [], total: 0, offset: 0, q: "", error: null, loaded: false },
  batch: null,           // {summary, scoredUrl, scoredName, rejectsUrl, rejectsName}
};
let t = makeT(state.lang);

// ---------------------------------------------------------------- DOM helpers
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Build an element: h("div", {class: "x"}, child, "text", ...). */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

/** Text in the chosen language that follows the language switch. */
function bi(zh, en, tag = "span", attrs = {}) {
  return h(tag, { ...attrs, dataset: { zh, en } }, state.lang === "en" ? en : zh);
}
/** A UI string that follows the language switch. */
const biT = (key, vars, tag, attrs) => bi(makeT("zh")(key, vars), makeT("en")(key, vars), tag, attrs);
const pick = (obj, base) => (state.lang === "en" ? obj[`${base}_en`] : obj[`${base}_zh`]) ?? obj[base] ?? "";
const en = () => state.lang === "en";
const locale = () => (en() ? "en-US" : "zh-CN");
const fmtPoints = (x) => (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(2);
const fmtPd = (p) => `${(100 * p).toFixed(p < 0.01 ? 3 : 2)}%`;
const fmtPct = (x) => `${(100 * x).toLocaleString(locale(), { maximumFractionDigits: 1 })}%`;
const fmtNum = (x) => (x === null || x === undefined ? t("missing")
  : Number.isInteger(x) ? x.toLocaleString(locale()) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(3));
/** The chosen half of a bilingual "中文 / English" API message. */
const localMessage = (msg) => splitBilingual(msg)[en() ? 1 : 0];
/** Money in 万元 as an officer writes it: "1,200 万元"; in English "CNY 12.00 million" (or "CNY 50,000"). */
function fmtWan(x) {
  const v = Number(x);
  if (!en()) return `${v.toLocaleString("zh-CN", { maximumFractionDigits: 1 })} ${t("unit_wan")}`;
  return Math.abs(v) >= 100 ? `CNY ${(v / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })} million`
    : `CNY ${(v * 10_000).toLocaleString("en-US", { maximumFractionDigits: 0 })}`;
}
const isShare = (spec) => spec?.unit === "share 0-1";
const fmtTime = (iso) => new Date(iso).toLocaleString(en() ? "en-GB" : "zh-CN");

// ---------------------------------------------------------------- language
function applyLang() {
  t = makeT(state.lang);
  document.documentElement.lang = en() ? "en" : "zh-CN";
  document.title = t("app_title");
  for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  for (const n of $$("[data-i18n-label]")) n.setAttribute("aria-label", t(n.dataset.i18nLabel));
  for (const n of $$("[data-zh]")) n.textContent = en() ? n.dataset.en : n.dataset.zh;
  for (const n of $$("[data-label-zh]")) n.setAttribute("aria-label", en() ? n.dataset.labelEn : n.dataset.labelZh);
  for (const b of $$("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
  const stage = $("#batch-stage").dataset.stage;
  if (stage) $("#batch-stage").textContent = t(STAGE_TEXT[stage]);
  renderResult();
  renderHistory();
  renderBatch();
}

function setLang(lang) {
  state.lang = lang;
  localStorage.setItem(LANG_STORE, lang);
  applyLang();
}

// ---------------------------------------------------------------- failures
/** What went wrong with a request, in the officer's language (follows the language switch). */
function failureText(err) {
  const s = err.status;
  if (err.kind === "network") return biT("err_network");
  if (err.kind === "timeout") return biT("err_timeout", { s: Math.round(err.timeoutMs / 1000) });
  if (s === 413) {
    const m = /limit of ([\d,]+) bytes/.exec(err.problem?.detail ?? "");
    const bytes = m ? Number(m[1].replace(/,/g, "")) : null;
    const limit = bytes === null ? "—" : bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(0)} MB` : `${Math.round(bytes / 1024)} KB`;
    return biT("err_413", { limit });
  }
  if (s === 429) return err.retryAfter ? biT("err_429", { s: err.retryAfter }) : biT("err_429_nowait");
  if (s === 503) return biT("err_503");
  if (s >= 500) return biT("err_5xx", { status: s });
  if ([400, 401, 403, 404, 415, 422].includes(s)) return biT(`err_${s}`);
  return biT("err_other", { status: s });
}

/** A failure as a block: the message, then the API's own words for a 4xx it explained (English page only:
 *  its detail is English), then any per-field problems not shown elsewhere. */
function failureBlock(err, { lead = null, fieldLines = true } = {}) {
  const box = h("div", { class: "failure", dataset: { status: String(err.status), kind: err.kind } },
    lead ? biT(lead) : null, failureText(err));
  if (fieldLines) {
    for (const e of err.fieldErrors) box.append(h("div", {}, fieldProblemText(e)));
  }
  const detail = err.problem?.detail;
  if (err.kind === "http" && detail && !err.fieldErrors.length && err.status < 500 && ![401, 403, 413].includes(err.status)) {
    box.append(h("div", { class: "muted detail" }, detailText(detail)));
  }
  return box;
}

/** A problem's detail in the officer's language: bilingual details split, known English ones translated. */
function detailText(detail) {
  const [zh, enText] = splitBilingual(detail);
  if (zh !== enText) return bi(zh, enText);
  for (const [re, zhT, enT] of DETAIL_TEXTS) {
    const m = re.exec(detail);
    const fill = (tpl) => tpl.replace(/\$(\d)/g, (_, i) => m[i]);
    if (m) return bi(fill(zhT), fill(enT));
  }
  return h("span", { lang: "en" }, detail);
}

/** One per-field problem from the API: its bilingual message, or a clear one of our own for a what-if change. */
function fieldProblemText(e) {
  if (e.rule === "change") {
    const spec = state.fields[e.field];
    const label = spec ? [spec.label_zh, spec.label_en] : [e.field, e.field];
    return bi(makeT("zh")("err_change", { field: label[0], value: e.value ?? "" }),
      makeT("en")("err_change", { field: label[1], value: e.value ?? "" }));
  }
  const [zh, enText] = splitBilingual(e.problem ?? "");
  return bi(zh, enText);
}

// ---------------------------------------------------------------- views and sign-in
function showTab(name, focus = false) {
  state.tab = name;
  for (const v of ["assess", "history", "batch"]) $(`#view-${v}`).hidden = v !== name;
  for (const b of $$("#tabs [data-tab]")) {
    const on = b.dataset.tab === name;
    b.classList.toggle("active", on);
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
  }
  $("#skip-submit").hidden = name !== "assess";
  if (name === "history") loadHistory(); // new assessments may have been made since
  if (focus) $(`#view-${name} h2`).focus();
}

/** Left/right arrows move between the tabs (the WAI-ARIA tabs pattern). */
function onTabKey(ev) {
  const tabs = $$("#tabs [data-tab]");
  const i = tabs.indexOf(ev.target);
  if (i < 0 || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(ev.key)) return;
  ev.preventDefault();
  const j = ev.key === "Home" ? 0 : ev.key === "End" ? tabs.length - 1 : (i + (ev.key === "ArrowRight" ? 1 : -1) + tabs.length) % tabs.length;
  tabs[j].focus();
  showTab(tabs[j].dataset.tab);
}

function showSignedIn(yes) {
  $("#view-signin").hidden = yes;
  $("#tabs").hidden = !yes;
  $("#sign-out").hidden = !yes;
  $("#skip-submit").hidden = !yes || state.tab !== "assess";
  if (yes) showTab(state.tab);
  else for (const v of ["assess", "history", "batch"]) $(`#view-${v}`).hidden = true;
}

async function signIn(ev) {
  ev.preventDefault();
  $("#signin-error").replaceChildren();
  api.session.key = $("#api-key").value.trim();
  if (await enter()) {
    $("#api-key").value = "";
    $(`#view-${state.tab} h2`).focus();
  }
}

/** Load the form metadata with the session's key (this also checks the key) and open the page. */
async function enter() {
  try {
    const [form, examples] = await Promise.all([api.getForm(), api.getExamples()]);
    if (!state.form) useForm(form);
    state.examples = examples;
    showSignedIn(true);
    return true;
  } catch (err) {
    api.session.key = null;
    $("#signin-error").replaceChildren(err.status === 401 ? biT("bad_key") : failureText(err));
    $("#api-key").focus();
    return false;
  }
}

function useForm(form) {
  state.form = form;
  for (const sec of form.sections) for (const f of sec.fields) state.fields[f.name] = f;
  for (const ind of form.indicators) state.indicators[ind.key] = ind;
  renderForm();
}

/** Forget the key and everything shown for it (the next officer at this browser starts clean). */
function signOut() {
  api.session.key = null;
  if (state.form) fillForm({});
  revokeBatch();
  Object.assign(state, { current: null, tab: "assess", history: { items: [], total: 0, offset: 0, q: "", error: null, loaded: false } });
  $("#history-q").value = "";
  renderResult();
  renderHistory();
  renderBatch();
  showSignedIn(false);
}

/** A 401 means the key expired or was revoked: sign in again, with everything typed kept. */
function handleAuth(err) {
  if (err.status !== 401) return false;
  api.session.key = null;
  showSignedIn(false);
  $("#signin-error").replaceChildren(biT("err_401"));
  $("#signin-title").focus();
  return true;
}

// ---------------------------------------------------------------- profile form
function enumOptions(spec) {
  const labels = spec.enum_labels?.length ? spec.enum_labels : spec.enum.map((v) => ({ value: v, label_zh: v, label_en: v }));
  return labels.map((o) => h("option", { value: o.value }, bi(o.label_zh, o.label_en)));
}

function inputFor(spec, id = `f-${spec.name}`) {
  const attrs = { id, name: spec.name, title: spec.description };
  if (spec.kind === "bool" || spec.kind === "enum") {
    const options = spec.kind === "bool"
      ? [h("option", { value: "true" }, biT("yes")), h("option", { value: "false" }, biT("no"))]
      : enumOptions(spec);
    return h("select", attrs, h("option", { value: "" }, "—"), options);
  }
  if (spec.kind === "date") return h("input", { ...attrs, type: "date" });
  const numeric = spec.kind === "number" || spec.kind === "integer";
  return h("input", { ...attrs, type: "text", inputmode: numeric ? (spec.kind === "integer" ? "numeric" : "decimal") : null,
    maxlength: spec.max_length, autocomplete: "off" });
}

function unitOf(spec) {
  return spec.unit && spec.unit !== "date" ? bi(spec.unit_zh ?? spec.unit, spec.unit_en, "span", { class: "unit" }) : null;
}

function fieldLabel(spec) {
  return h("label", { for: `f-${spec.name}`, title: spec.description },
    bi(spec.label_zh, spec.label_en), spec.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null, unitOf(spec));
}

function renderForm() {
  const root = $("#form-sections");
  root.replaceChildren(...state.form.sections.map((sec) => h("fieldset", { dataset: { section: sec.key } },
    h("legend", {}, bi(sec.label_zh, sec.label_en)),
    sec.fields.map((spec) => {
      const input = inputFor(spec);
      if (spec.required) input.setAttribute("aria-required", "true");
      return h("div", { class: "field", dataset: { field: spec.name } },
        fieldLabel(spec), input, h("div", { class: "field-error", id: `e-${spec.name}` }));
    }))));
}

const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const PERCENT_RE = /^[-+]?(\d+\.?\d*|\.\d+)\s*[%％]$/;

/** Read one form input as JSON: numbers parsed when they are numbers (a share also as "35%"),
 *  anything else sent as typed so the API names the rule it breaks. Empty means "not submitted". */
function readValue(spec, raw) {
  const s = raw.trim();
  if (s === "") return undefined;
  if (spec.kind === "bool") return s === "true";
  if (spec.kind === "number" || spec.kind === "integer") {
    if (NUMBER_RE.test(s)) return Number(s);
    if (isShare(spec) && PERCENT_RE.test(s)) return Number(s.replace(/[%％\s]/g, "")) / 100;
  }
  return s;
}

/** Read a what-if box: as the API reads a change, a signed number or a percentage is relative
 *  (+5 adds 5, -3 takes 3 away, +20% scales); "=-50" sets a negative value; anything else is the new value. */
function readChange(spec, raw) {
  const s = raw.trim();
  if (s === "") return undefined;
  const numeric = spec.kind === "number" || spec.kind === "integer";
  if (numeric && (/^[+-]/.test(s) || /[%％]$/.test(s) || s.startsWith("="))) return s.replace("％", "%");
  return readValue(spec, raw);
}

function collectProfile() {
  const profile = {};
  for (const spec of Object.values(state.fields)) {
    const v = readValue(spec, $(`#f-${spec.name}`).value);
    if (v !== undefined) profile[spec.name] = v;
  }
  return profile;
}

function displayValue(spec, v) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "boolean") return t(v ? "yes" : "no");
  if (spec?.kind === "enum") {
    const o = spec.enum_labels?.find((x) => x.value === v);
    return o ? pick(o, "label") : String(v);
  }
  if (isShare(spec) && typeof v === "number") return fmtPct(v);
  return String(v);
}

function toInputValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "true" : "false";
  return String(v);
}

function fillForm(profile) {
  clearFieldErrors();
  for (const name of Object.keys(state.fields)) $(`#f-${name}`).value = toInputValue(profile[name]);
}

/** A stored input (a JSON profile, or a CSV row keyed by field names or Chinese headers) as form values. */
function profileFromInput(input) {
  if (!input || typeof input !== "object" || Array.isArray(input)) return null;
  const out = {};
  for (const spec of Object.values(state.fields)) {
    let v = input[spec.name] ?? input[spec.label_zh];
    if (v === null || v === undefined || v === "") continue;
    if (spec.kind === "bool" && typeof v === "string") v = ["true", "1", "yes", "是", "y"].includes(v.trim().toLowerCase());
    if (spec.kind === "enum") v = spec.enum_labels?.find((o) => o.label_zh === v || o.label_en === v)?.value ?? v;
    out[spec.name] = v;
  }
  return Object.keys(out).length ? out : null;
}

function clearFieldErrors() {
  for (const n of $$(".field-error")) n.replaceChildren();
  for (const n of $$("[aria-invalid]")) {
    n.removeAttribute("aria-invalid");
    n.removeAttribute("aria-describedby");
    n.classList.remove("invalid");
  }
  $("#form-error").replaceChildren();
}

/** Messages of a failed submission: per field next to the field (and tied to it for screen readers),
 *  the rest above the button. */
function showProblem(err) {
  clearFieldErrors();
  const general = [];
  let placed = 0;
  for (const e of err.fieldErrors) {
    const box = e.field && $(`#e-${e.field}`);
    if (box) {
      box.append(h("div", {}, fieldProblemText(e)));
      const input = $(`#f-${e.field}`);
      input.classList.add("invalid");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `e-${e.field}`);
      placed++;
    } else general.push(h("div", {}, fieldProblemText(e)));
  }
  const summary = placed ? biT("fix_fields", { n: placed }, "div") : failureBlock(err, { fieldLines: false });
  $("#form-error").replaceChildren(summary, ...general);
  const first = $("[aria-invalid=true]");
  if (first) {
    first.scrollIntoView({ block: "center" });
    first.focus();
  }
}

async function submitProfile(ev) {
  ev.preventDefault();
  const button = $("#submit-score");
  button.disabled = true;
  button.textContent = t("scoring");
  const profile = collectProfile();
  try {
    const resp = await api.scoreProfile(profile);
    clearFieldErrors();
    setCurrent(fromScoreResponse(resp, profile, false));
    focusResult();
  } catch (err) {
    markStale();
    if (!handleAuth(err)) showProblem(err);
  } finally {
    button.disabled = false;
    button.textContent = t("submit");
  }
}

/** The result on screen no longer answers the form: say so on it. */
function markStale() {
  if (state.current && !state.current.stored) {
    state.current.stale = true;
    renderResult();
  }
}

function focusResult() {
  const title = $("#result-title");
  title.focus({ preventScroll: true });
  title.scrollIntoView({ block: "start" });
}

// ---------------------------------------------------------------- results
/** The page's view of a scoring response (POST /v1/scores or a stored assessment's output). */
function fromScoreResponse(result, profile, stored) {
  return {
    result,
    recommendation: result.recommendation ?? null,
    profile,
    firm: { firm_id: result.firm_id ?? profile?.firm_id ?? null, name: profile?.name ?? null,
      requested: profile?.requested_amount ?? null },
    id: result.assessment_id ?? null,
    createdAt: result.assessed_at ?? null,
    stored,
    stale: false,
  };
}

function setCurrent(current) {
  state.current = current;
  state.whatIf = { changes: {}, extra: [], seq: 0, out: null, error: null, next: null };
  renderResult();
}

function enumLabel(field, value) {
  const o = state.fields[field]?.enum_labels?.find((x) => x.value === value);
  return o ? pick(o, "label") : value ?? "";
}

function firmHeader(cur) {
  const { name, firm_id: code } = cur.firm;
  return h("div", { class: "firm" },
    h("h2", { id: "result-title", tabindex: "-1" }, h("span", { id: "result-firm-name" }, name || "—")),
    h("div", { class: "muted" }, `${t("credit_code")}: `, h("span", { id: "result-firm-id" }, code || "—")));
}

function decisionBanner(cur) {
  const rec = cur.recommendation;
  if (!rec) return null;
  const requested = cur.firm.requested;
  return h("div", { class: `banner decision-banner banner-${rec.decision}`, id: "decision-banner", role: "status" },
    h("strong", { id: "rec-decision" }, t(`decision_${rec.decision}`)),
    h("span", { class: "amounts" },
      h("span", {}, `${t("limit")}: `, h("strong", { id: "rec-limit" }, fmtWan(rec.limit))),
      h("span", {}, `${t("requested")}: `, h("strong", { id: "rec-requested" }, requested === null || requested === undefined ? "—" : fmtWan(requested)))));
}

function headline(r, cur) {
  return h("div", { class: "headline" },
    h("div", {}, h("div", { class: "muted" }, t("score")), h("div", { class: "big", id: "result-score" }, r.score.toFixed(2))),
    h("div", {}, h("div", { class: "muted" }, t("grade")), h("div", { class: "grade", id: "result-grade" }, r.grade)),
    h("div", {}, h("div", { class: "muted" }, t("pd")), h("div", { class: "grade", id: "result-pd" }, fmtPd(r.pd))),
    h("div", { class: "muted meta-block" },
      h("div", {}, `${t("stage")}: `, enumLabel("lifecycle_stage", r.lifecycle_stage)),
      h("div", {}, `${t("model_version")}: `, h("span", { id: "result-model-version" }, r.model_version)),
      cur.recommendation?.policy_version ? h("div", {}, `${t("policy_version")}: `, h("span", { id: "result-policy-version" }, cur.recommendation.policy_version)) : null,
      cur.id !== null ? h("div", {}, `${t("assessment_id")}: `, h("span", { id: "result-assessment-id" }, cur.id)) : null,
      cur.createdAt ? h("div", {}, fmtTime(cur.createdAt)) : null));
}

function radarBlock(r) {
  const axes = r.dimensions.map((d) => ({ key: d.key, label: pick(d, "label"), rating: d.rating }));
  return h("div", { id: "radar" },
    h("h3", { class: "section-title" }, t("radar_title")),
    radarChart(axes, t("radar_title")),
    h("div", { class: "legend" },
      h("span", {}, h("i", { class: "l-firm" }), t("legend_firm")),
      h("span", {}, h("i", { class: "l-median" }), t("legend_median"))));
}

function pointsTable(r) {
  const row = (label, pts, rating, cls) => h("tr", { class: cls },
    h("td", {}, label), h("td", { class: "num" }, pts), h("td", { class: "num" }, rating));
  return h("div", {},
    h("h3", { class: "section-title" }, t("points_title")),
    h("table", { class: "table", id: "points-table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("dimension")), h("th", { class: "num" }, t("points")), h("th", { class: "num" }, t("rating")))),
      h("tbody", {},
        row(t("base_points"), r.base_points.toFixed(2), ""),
        r.dimensions.map((d) => row(pick(d, "label"), fmtPoints(d.points), d.rating.toFixed(1))),
        row(t("clip_points"), fmtPoints(r.clip_points), ""),
        row(t("total"), r.score.toFixed(2), "", "total"))));
}

function reasonList(reasons, kind) {
  if (!reasons.length) return h("p", { class: "muted" }, t("none"));
  return h("ol", { class: `reasons ${kind}`, id: `reasons-${kind}` }, reasons.map((x) => {
    const ind = state.indicators[x.indicator];
    const label = ind ? pick(ind, "label") : "";
    // values in the field's unit (万元, %, 件, enum names) when the API gives them
    const shown = (text, num) => text ?? fmtNum(num);
    const meta = ind ? `${x.code} · ${label}: ${t("value")} ${shown(x.value_text_zh === undefined ? undefined : pick(x, "value_text"), x.value)} / ${t("median")} ${shown(x.stage_median_text_zh === undefined ? undefined : pick(x, "stage_median_text"), x.stage_median)}` : x.code;
    return h("li", { dataset: { code: x.code } },
      x.points === null ? null : h("span", { class: "pts" }, fmtPoints(x.points)), " ", pick(x, "text"),
      h("div", { class: "meta" }, meta));
  }));
}

function knockoutBlock(r) {
  return h("div", { id: "knockouts" },
    h("h3", { class: "section-title" }, t("knockouts")),
    r.knockouts.length
      ? h("ul", {}, r.knockouts.map((k) => h("li", { class: "knockout" }, [k.code, pick(k, "text")].filter(Boolean).join(": "))))
      : h("p", { class: "muted" }, t("no_knockouts")));
}

function recommendationBlock(rec) {
  const body = rec ? renderRecommendation(rec) : h("p", { class: "muted" }, t("no_recommendation"));
  return h("div", { id: "recommendation" }, h("h3", { class: "section-title" }, t("recommendation")), body);
}

// ---------------------------------------------------------------- rule texts
// Enum values that are also ordinary words or letters in rule texts: named only after their own field.
const COMMON_WORDS = new Set(["none", "normal", "credit", "loss", "startup", "growth", "mature", "angel", "a", "b", "A", "B", "C", "D", "M"]);
const ENUM_BY_VALUE = () => {
  const map = {};
  for (const spec of Object.values(state.fields)) for (const o of spec.enum_labels ?? []) if (!COMMON_WORDS.has(o.value)) map[o.value] = o;
  return map;
};

/** A rule text written by the policy (English formulas with field names) in the officer's language:
 *  texts the API gives in both languages (`<base>_zh` / `<base>_en`) are used as they are; otherwise
 *  field names become their labels, enum values their names, and the policy's terms are translated. */
function ruleText(obj, base = "rule") {
  if (obj[`${base}_zh`] && obj[`${base}_en`]) return pick(obj, base);
  return localRule(obj[base]);
}

function localRule(text) {
  if (!text) return "";
  let s = String(text);
  const lead = /^([a-z][a-z0-9_]*)\b/.exec(s)?.[1];
  const leadSpec = lead && state.fields[lead];
  if (leadSpec?.kind === "enum") { // "latest_round at least angel (firm: pre_ipo)": that field's values by name
    for (const o of leadSpec.enum_labels ?? []) s = s.replace(new RegExp(`(?<![\\w.])${o.value}(?![\\w])`, "g"), pick(o, "label"));
  }
  s = s.replace(/\(firm: ([^)]*)\)/g, (_, v) => `(${t("rule_firm")}${en() ? ": " : "："}${v})`);
  const named = ENUM_BY_VALUE();
  s = s.replace(/(?<![\w.])[a-z][a-z0-9_]*(?![\w])/g, (w) => {
    if (state.fields[w]) return pick(state.fields[w], "label");
    if (DERIVED_LABELS[w] && w.includes("_")) return DERIVED_LABELS[w][en() ? 1 : 0];
    if (named[w]) return pick(named[w], "label");
    return w;
  });
  for (const [from, zh, enText] of RULE_TERMS) {
    const to = en() ? enText : zh;
    if (to) s = s.split(from).join(to);
  }
  return s;
}

function stepValue(st) {
  if (st.value === null || st.value === undefined) return t("missing");
  const f = STEP_FORMATS[st.key];
  if (f === "pct") return fmtPct(st.value);
  if (f === "times") return `${fmtNum(st.value)}${en() ? "×/yr" : " 次/年"}`;
  if (f === "factor") return `× ${st.value}`;
  return fmtWan(st.value);
}

/** Decision, limit with its arithmetic, products, joint-loan split and the rules behind them. */
function renderRecommendation(rec) {
  const steps = rec.limit_steps ?? [];
  const products = rec.products ?? [];
  const jl = rec.joint_loan;
  return h("div", {},
    h("p", {}, h("strong", { class: `decision-${rec.decision}` }, t(`decision_${rec.decision}`)),
      h("span", { class: "muted", id: "rec-rule" }, ` — ${ruleText(rec, "decision_rule")}`)),
    h("p", {}, `${t("limit")}: `, h("strong", {}, fmtWan(rec.limit)),
      rec.limit_basis_zh ? h("span", { class: "muted" }, ` (${pick(rec, "limit_basis")})`) : null),
    steps.length ? h("div", { class: "steps" }, h("div", { class: "sub-title" }, t("limit_steps")),
      h("div", { class: "table-wrap" }, h("table", { class: "table", id: "rec-steps" }, h("tbody", {}, steps.map((st) => h("tr", { dataset: { key: st.key ?? "" } },
        h("td", {}, pick(st, "label")), h("td", { class: "num" }, stepValue(st)),
        h("td", { class: "muted rule" }, ruleText(st)))))))) : null,
    h("div", {}, `${t("products")}: `, products.length ? null : t("none")),
    products.length ? h("ul", { id: "rec-products" }, products.map((p) => h("li", { dataset: { code: p.code } },
      h("strong", {}, p.name_zh ? pick(p, "name") : p.code),
      p.rules?.length ? h("div", { class: "meta muted" }, `${t("rules")}: ${p.rules.map(localRule).join("；")}`) : null))) : null,
    jl ? h("div", { id: "rec-joint" }, `${t("joint_loan")}: ${jl.banks} ${t("banks")}`,
      h("table", { class: "table" }, h("tbody", {}, jl.shares.map((sh) => h("tr", {},
        h("td", {}, `#${sh.bank} ${t(`role_${sh.role}`)}`), h("td", { class: "num" }, fmtWan(sh.amount)),
        h("td", { class: "num" }, `${(100 * sh.share).toFixed(1)}%`)))))) : null,
    rec.policy_version ? h("p", { class: "muted" }, `${t("policy_version")}: ${rec.policy_version}`) : null);
}

function renderResult() {
  const box = $("#result");
  const cur = state.current;
  box.hidden = !cur;
  if (!cur) return box.replaceChildren();
  const r = cur.result;
  box.classList.toggle("stale", cur.stale);
  box.replaceChildren(...[
    h("div", { class: "print-only memo-head" }, h("strong", {}, t("memo_title")), h("span", {}, `${t("memo_printed")}: ${fmtTime(new Date().toISOString())}`)),
    cur.stale ? h("div", { class: "banner banner-stale", id: "stale-banner", role: "alert" }, t("stale_banner")) : null,
    cur.stored ? h("div", { class: "stored no-print", id: "stored-banner" }, t("stored_banner"), " ",
      t(cur.loaded ? "loaded_into_form" : "no_profile_to_load")) : null,
    h("div", { class: "result-top" }, firmHeader(cur),
      h("button", { type: "button", id: "print-memo", class: "no-print", onclick: () => window.print() }, t("print_memo"))),
    decisionBanner(cur),
    headline(r, cur),
    h("div", { class: "result-grid" }, radarBlock(r), pointsTable(r)),
    knockoutBlock(r),
    h("div", { class: "reasons-grid" },
      h("div", {}, h("h3", { class: "section-title" }, t("reasons_down")), reasonList(r.reasons_down, "down")),
      h("div", {}, h("h3", { class: "section-title" }, t("reasons_up")), reasonList(r.reasons_up, "up"))),
    recommendationBlock(cur.recommendation),
    cur.profile ? whatIfPanel(cur) : null].filter(Boolean));
}

// ---------------------------------------------------------------- what-if
/** Editable raw fields behind the result's reasons (down first), then fields the officer added. */
function whatIfFields(cur) {
  const names = [];
  for (const reason of [...cur.result.reasons_down, ...cur.result.reasons_up]) {
    for (const f of state.indicators[reason.indicator]?.inputs ?? []) {
      if (state.fields[f] && state.fields[f].kind !== "date" && !names.includes(f)) names.push(f);
    }
  }
  return [...names.slice(0, WHATIF_MAX_FIELDS), ...state.whatIf.extra.filter((f) => !names.includes(f))];
}

function whatIfPanel(cur) {
  const names = whatIfFields(cur);
  const rows = names.map((name) => {
    const spec = state.fields[name];
    const input = inputFor(spec, `w-${name}`);
    input.value = toInputValue(name in state.whatIf.changes ? state.whatIf.changes[name] : cur.profile[name]);
    input.addEventListener(spec.kind === "bool" || spec.kind === "enum" ? "change" : "input", () => onWhatIfInput(name, input.value));
    return h("div", { class: "field", dataset: { field: name } },
      h("label", { for: input.id }, pick(spec, "label"), unitOf(spec)),
      input,
      h("span", { class: "was" }, `${t("whatif_was")} ${displayValue(spec, cur.profile[name])}`));
  });
  const others = Object.values(state.fields).filter((s) => !names.includes(s.name) && s.kind !== "date" && s.kind !== "text");
  const add = h("select", { id: "whatif-add", "aria-label": t("whatif_add_label"), onchange: (e) => {
    if (e.target.value) { state.whatIf.extra.push(e.target.value); renderResult(); $(`#w-${e.target.value}`)?.focus(); }
  } }, h("option", { value: "" }, t("whatif_add")), others.map((s) => h("option", { value: s.name }, pick(s, "label"))));
  return h("div", { class: "whatif no-print", id: "whatif" },
    h("h3", { class: "section-title" }, t("whatif_title")),
    h("p", { class: "muted" }, t("whatif_hint")),
    rows,
    h("div", { class: "row" }, add, h("button", { type: "button", id: "whatif-reset", onclick: resetWhatIf }, t("whatif_reset")),
      h("button", { type: "button", id: "next-grade", onclick: loadNextGrade }, t("next_grade"))),
    nextGradeBlock(),
    whatIfOutput());
}

/** Ask the API for the fewest actionable changes that lift the firm one grade. */
async function loadNextGrade() {
  const button = $("#next-grade");
  button.disabled = true;
  try {
    state.whatIf.next = await api.nextGrade(state.current.profile);
  } catch (err) {
    if (handleAuth(err)) return;
    state.whatIf.next = { error: err };
  } finally {
    button.disabled = false;
  }
  renderResult();
  $("#next-grade-out")?.focus();
}

/** The next-grade answer when no path exists, in the officer's language. */
function nextGradeMessage(next) {
  if (next.message_zh && next.message_en) return pick(next, "message");
  const m = /within (\d+) realistic changes: the levers add about ([\d.]+) of the ([\d.]+) points/.exec(next.message ?? "");
  if (m) return t("next_grade_none", { n: m[1], have: m[2], need: m[3] });
  if (/best grade/.test(next.message ?? "")) return t("next_grade_best");
  return next.message ?? "";
}

function nextGradeBlock() {
  const next = state.whatIf.next;
  if (!next) return null;
  if (next.error) return h("div", { class: "error", id: "next-grade-out", tabindex: "-1", role: "alert" }, failureBlock(next.error, { lead: "next_grade_failed" }));
  const apply = () => {
    for (const [field, value] of Object.entries(next.changes)) {
      if (!state.whatIf.extra.includes(field)) state.whatIf.extra.push(field);
      state.whatIf.changes[field] = value;
    }
    renderResult();
    runWhatIf();
  };
  return h("div", { class: "whatif-out", id: "next-grade-out", tabindex: "-1" },
    next.reachable
      ? h("div", {}, h("strong", {}, `${t("next_grade_to")} ${next.target_grade}`),
        ` (${t("next_grade_points", { p: next.points_needed.toFixed(2) })})`,
        h("ol", {}, next.steps.map((st) => h("li", {}, `${pick(st, "label")} ${st.change} `,
          h("span", { class: "delta-pos" }, fmtPoints(st.points)), ` → ${st.grade_after}`))),
        h("button", { type: "button", id: "next-grade-apply", onclick: apply }, t("next_grade_apply")))
      : h("div", { class: "muted" }, nextGradeMessage(next)));
}

function resetWhatIf() {
  state.whatIf.changes = {};
  state.whatIf.out = null;
  state.whatIf.error = null;
  state.whatIf.seq++;
  renderResult();
}

let whatIfTimer = null;

function onWhatIfInput(name, raw) {
  const value = readChange(state.fields[name], raw);
  // An emptied box or the original value means "no change" for that field.
  if (value === undefined || value === state.current.profile[name]) delete state.whatIf.changes[name];
  else state.whatIf.changes[name] = value;
  clearTimeout(whatIfTimer);
  whatIfTimer = setTimeout(runWhatIf, WHATIF_DEBOUNCE_MS);
}

async function runWhatIf() {
  const cur = state.current;
  const seq = ++state.whatIf.seq;
  const changes = { ...state.whatIf.changes };
  if (!Object.keys(changes).length) {
    state.whatIf.out = null;
    state.whatIf.error = null;
  } else {
    try {
      const resp = await api.whatIf(cur.profile, changes);
      if (seq !== state.whatIf.seq) return; // a newer edit is already on its way
      state.whatIf.out = resp;
      state.whatIf.error = null;
    } catch (err) {
      if (seq !== state.whatIf.seq || handleAuth(err)) return;
      state.whatIf.out = null;
      state.whatIf.error = err;
    }
  }
  $("#whatif-out")?.replaceWith(whatIfOutput());
}

/** Old beside new, as POST /v1/scores/what-if compares them. */
function whatIfOutput() {
  // data-seq: which edit this answers (lets a test or benchmark wait for a given response)
  const box = h("div", { class: "whatif-out", id: "whatif-out", "aria-live": "polite", dataset: { seq: state.whatIf.seq } });
  const { out, error } = state.whatIf;
  if (error) {
    box.append(h("div", { class: "error", id: "whatif-error" }, failureBlock(error, { lead: "whatif_failed" })));
    return box;
  }
  if (!out) {
    box.append(h("span", { class: "muted" }, t("whatif_unchanged")));
    return box;
  }
  const { before, after } = out;
  const cls = (x) => (x > 0.005 ? "delta-pos" : x < -0.005 ? "delta-neg" : "");
  const delta = (x) => (Math.abs(x) < 0.005 ? "" : fmtPoints(x));
  box.append(
    h("div", {}, h("strong", {}, `${t("whatif_result")}: `),
      h("span", { id: "whatif-score", class: "big-inline" }, after.score.toFixed(2)), " ",
      h("span", { class: cls(out.score_change), id: "whatif-delta" }, `(${fmtPoints(out.score_change)})`)),
    h("div", {}, `${t("grade")} ${before.grade} → `, h("strong", { id: "whatif-grade" }, after.grade),
      ` · ${t("pd")} ${fmtPd(before.pd)} → ${fmtPd(after.pd)}`),
    h("div", {}, `${t("decision")}: ${t(`decision_${before.decision}`)} → `,
      h("strong", { class: `decision-${after.decision}` }, t(`decision_${after.decision}`)),
      ` · ${t("limit")} ${fmtWan(before.limit)} → `, h("strong", { id: "whatif-limit" }, fmtWan(after.limit))),
    h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("dimension")), h("th", { class: "num" }, t("whatif_before")),
        h("th", { class: "num" }, t("whatif_after")), h("th", { class: "num" }, t("whatif_change")))),
      h("tbody", {}, out.dimensions.map((d) => h("tr", {}, h("td", {}, pick(d, "label")),
        h("td", { class: "num" }, fmtPoints(d.before)), h("td", { class: "num" }, fmtPoints(d.after)),
        h("td", { class: `num ${cls(d.points)}` }, delta(d.points))))))),
    out.indicators.length ? h("ul", { class: "moved" }, out.indicators.map((x) => h("li", {},
      h("span", { class: cls(x.points) }, fmtPoints(x.points)), ` ${pick(x, "label")}: ${fmtNum(x.before)} → ${fmtNum(x.after)}`))) : null);
  return box;
}

// ---------------------------------------------------------------- history
async function loadHistory() {
  const hs = state.history;
  try {
    const page = await api.history({ q: hs.q, offset: hs.offset, limit: HISTORY_PAGE });
    Object.assign(hs, { items: page.items, total: page.total, error: null, loaded: true });
  } catch (err) {
    if (handleAuth(err)) return;
    Object.assign(hs, { items: [], total: 0, error: err, loaded: false });
  }
  renderHistory();
}

function searchHistory(ev) {
  ev?.preventDefault();
  Object.assign(state.history, { q: $("#history-q").value.trim(), offset: 0 });
  loadHistory();
}

function pageHistory(step) {
  const hs = state.history;
  hs.offset = Math.max(0, hs.offset + step * HISTORY_PAGE);
  loadHistory();
}

function renderHistory() {
  const hs = state.history;
  const body = $("#history-table tbody");
  $("#history-error").replaceChildren(hs.error ? failureBlock(hs.error, { lead: "history_failed" }) : "");
  $("#history-prev").disabled = hs.offset === 0 || !!hs.error;
  $("#history-next").disabled = hs.offset + hs.items.length >= hs.total || !!hs.error;
  $("#history-page").textContent = hs.items.length
    ? t("page_info", { from: hs.offset + 1, to: hs.offset + hs.items.length, total: hs.total }) : "";
  if (!hs.items.length) {
    const text = hs.error ? "" : hs.q ? t("history_none_found", { q: hs.q }) : t("history_empty");
    body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "muted" }, text)));
    return;
  }
  // data-label: the column's name, shown beside each cell where the table is laid out as cards (phones)
  const cell = (key, attrs, text) => h("td", { ...attrs, dataset: { label: t(key) } }, text);
  body.replaceChildren(...hs.items.map((a) => h("tr", { dataset: { id: a.assessment_id } },
    cell("col_time", {}, fmtTime(a.assessed_at)),
    cell("col_firm", { class: "code" }, a.firm_id ?? ""), cell("col_name", { class: "name" }, a.name ?? ""),
    cell("score", { class: "num" }, a.score === null ? "" : Number(a.score).toFixed(2)), cell("grade", {}, a.grade ?? ""),
    cell("col_channel", {}, t(`channel_${a.channel}`)), cell("model_version", {}, a.model_version),
    h("td", {}, h("button", { type: "button", "aria-label": `${t("open")} ${a.name ?? a.firm_id ?? ""}`,
      onclick: () => openAssessment(a) }, t("open"))))));
}

/** A stored batch-CSV row (flat columns) in the shape of an API result, for the same view. */
function fromFlatRow(row) {
  const reasons = (prefix) => Object.keys(row).filter((k) => k.startsWith(prefix) && row[k]).map((k) => {
    const [code, text] = [row[k].slice(0, row[k].indexOf(" ")), row[k].slice(row[k].indexOf(" ") + 1)];
    const [zh, enText] = splitBilingual(text);
    return { code, indicator: null, value: null, stage_median: null, points: null, text_zh: zh, text_en: enText };
  });
  // Knock-out codes exactly as stored (their texts belong to the policy of the day).
  const knockouts = String(row.knockouts ?? "").split(";").filter(Boolean).map((code) => ({ code, text_zh: "", text_en: "" }));
  return {
    ...row,
    recommendation: row.decision ? flatRecommendation(row) : null,
    dimensions: state.form.dimensions.map((d) => ({ ...d, points: row[`${d.key}_points`], rating: row[`${d.key}_rating`] })),
    knockouts,
    reasons_down: reasons("reason_down_"),
    reasons_up: reasons("reason_up_"),
  };
}

/** The recommendation columns of a stored batch row (codes and amounts; texts live in the policy). */
function flatRecommendation(row) {
  const amounts = String(row.joint_loan_shares ?? "").split(";").filter(Boolean).map(Number);
  const steps = [
    ["basis", "测算基础", "Limit basis", row.limit_basis_amount, ""],
    ["grade_factor", "评级系数", "Grade factor", row.grade_factor, `grade_factors.${row.grade}`],
    ["cap", "上限", "Cap", row.limit_cap, row.limit_cap_rule],
    ["limit", "建议额度", "Limit", row.limit, ""],
  ].filter((s) => s[3] !== undefined && s[3] !== null && s[3] !== "")
    .map(([key, zh, enText, value, rule]) => ({ key, label_zh: zh, label_en: enText, value: Number(value), rule }));
  return {
    decision: row.decision, decision_rule: row.decision_rule, limit: row.limit, policy_version: row.policy_version,
    limit_steps: steps,
    products: String(row.products ?? "").split(";").filter(Boolean).map((code) => ({ code })),
    joint_loan: amounts.length ? { banks: amounts.length, shares: amounts.map((a, b) => ({
      bank: b + 1, role: b ? "participant" : "lead", amount: a, share: a / row.limit })) } : null,
  };
}

async function openAssessment(summary) {
  try {
    const a = await api.getAssessment(summary.assessment_id);
    const structured = Array.isArray(a.output.dimensions);
    const result = structured ? a.output : fromFlatRow(a.output);
    const profile = profileFromInput(a.input);
    const view = fromScoreResponse(result, structured ? profile : null, true);
    view.firm = { firm_id: result.firm_id ?? summary.firm_id ?? profile?.firm_id ?? null,
      name: profile?.name ?? summary.name ?? null, requested: profile?.requested_amount ?? null };
    // The record's profile goes into the form: the form and the result always describe one firm.
    if (profile) fillForm(profile);
    setCurrent({ ...view, id: a.assessment_id, createdAt: a.assessed_at, channel: a.channel, loaded: !!profile });
    showTab("assess");
    focusResult();
  } catch (err) {
    if (!handleAuth(err)) $("#history-error").replaceChildren(failureBlock(err, { lead: "history_failed" }));
  }
}

// ---------------------------------------------------------------- batch
const STAGE_TEXT = { upload: "uploading", process: "processing", download: "downloading", done: "done", failed: "failed" };

function setProgress(stage, fraction) {
  $("#batch-stage").textContent = t(STAGE_TEXT[stage]);
  $("#batch-stage").dataset.stage = stage;
  const bar = $("#batch-progress");
  if (fraction === null) bar.removeAttribute("value");
  else bar.value = Math.round(100 * fraction);
  $("#batch-percent").textContent = fraction === null ? "" : `${Math.round(100 * fraction)}%`;
}

async function submitBatch(ev) {
  ev.preventDefault();
  const file = $("#batch-file").files[0];
  if (!file) return;
  $("#batch-error").replaceChildren();
  revokeBatch();
  renderBatch();
  setProgress("upload", 0);
  try {
    const resp = await api.scoreCsv(file, setProgress, $("#batch-mapping").files[0] || null);
    state.batch = splitScored(await resp.blob.text(), file.name);
    setProgress("done", 1);
  } catch (err) {
    setProgress("failed", 0);
    if (handleAuth(err)) return;
    $("#batch-error").replaceChildren(failureBlock(err, { lead: "batch_failed" }));
  }
  renderBatch();
}

function revokeBatch() {
  if (state.batch) for (const u of [state.batch.scoredUrl, state.batch.rejectsUrl]) if (u) URL.revokeObjectURL(u);
  state.batch = null;
}

/** RFC 4180 CSV text → array of rows (arrays of strings). */
function parseCsv(text) {
  const rows = [];
  let row = [], cell = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(cell); cell = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

const csvCell = (v) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
// UTF-8 with BOM so that spreadsheet programs read the Chinese reason texts correctly.
const csvBlob = (rows) => new Blob(["\ufeff" + rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n"], { type: "text/csv" });

function countBy(values) {
  const out = new Map();
  for (const v of values) out.set(v, (out.get(v) ?? 0) + 1);
  return out;
}

/** Grade distribution, decisions (with their total limit) and reject rules of a scored file. */
function batchSummary(header, scored, rejects) {
  const col = (name) => header.indexOf(name);
  const [g, d, l] = [col("grade"), col("decision"), col("limit")];
  const grades = countBy(scored.map((r) => r[g]));
  const limits = new Map();
  for (const r of scored) limits.set(r[d], (limits.get(r[d]) ?? 0) + (Number(r[l]) || 0));
  // each reject's message names its rules as "[规则 code]" (one or more per row)
  const rules = new Map();
  for (const r of rejects) {
    const msg = r[2] ?? "";
    for (const m of new Set([...msg.matchAll(/\[规则 ([^\]]+)\]/g)].map((x) => x[1]))) {
      const example = msg.split("; ").find((part) => part.includes(`[规则 ${m}]`)) ?? msg;
      const entry = rules.get(m) ?? { n: 0, example };
      entry.n++;
      rules.set(m, entry);
    }
  }
  return {
    grades: GRADE_ORDER.filter((x) => grades.has(x)).map((x) => [x, grades.get(x)]),
    decisions: d < 0 ? [] : ["approve", "refer", "decline"].filter((x) => limits.has(x))
      .map((x) => [x, scored.filter((r) => r[d] === x).length, limits.get(x)]),
    rules: [...rules.entries()].sort((a, b) => b[1].n - a[1].n),
  };
}

/** The API answers one row per input row, rejects carrying their reasons in `error`: split them. */
function splitScored(text, name) {
  const [header, ...rows] = parseCsv(text.replace(/^\ufeff/, ""));
  const err = header.indexOf("error");
  const keep = header.map((_, i) => i).filter((i) => i !== err);
  const scoredRows = rows.filter((r) => !r[err]);
  const scored = scoredRows.map((r) => keep.map((i) => r[i]));
  const rejectCols = ["row", "firm_id", "error"].map((c) => header.indexOf(c));
  const rejects = rows.filter((r) => r[err]).map((r) => rejectCols.map((i) => r[i]));
  const stem = name.replace(/\.[^.]*$/, "");
  return {
    summary: { rows: rows.length, scored: scored.length, rejected: rejects.length },
    breakdown: batchSummary(header, scoredRows, rejects),
    scoredUrl: URL.createObjectURL(csvBlob([keep.map((i) => header[i]), ...scored])),
    scoredName: `${stem}.scored.csv`,
    rejectsUrl: rejects.length ? URL.createObjectURL(csvBlob([["row", "firm_id", "error"], ...rejects])) : null,
    rejectsName: `${stem}.rejects.csv`,
  };
}

function summaryTable(id, caption, head, rows) {
  return h("div", { class: "table-wrap" }, h("table", { class: "table", id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((x, i) => h("th", { class: i ? "num" : null, scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((x, i) => h(i ? "td" : "th", { class: i ? "num" : null, scope: i ? null : "row" }, x)))))));
}

function renderBatch() {
  const box = $("#batch-result");
  const b = state.batch;
  if (!b) return box.replaceChildren();
  const { grades, decisions, rules } = b.breakdown;
  const share = (n) => `${((100 * n) / Math.max(1, b.summary.scored)).toFixed(1)}%`;
  box.replaceChildren(
    h("p", { id: "batch-summary" }, t("batch_summary", b.summary)),
    h("div", { class: "downloads" },
      h("a", { href: b.scoredUrl, download: b.scoredName, id: "download-scored" }, t("download_scored")),
      b.rejectsUrl ? h("a", { href: b.rejectsUrl, download: b.rejectsName, id: "download-rejects" }, t("download_rejects")) : null),
    h("div", { class: "batch-grid" },
      summaryTable("batch-grades", t("batch_grades"), [t("grade"), t("rows_n"), t("share")],
        grades.map(([g, n]) => [g, n, share(n)])),
      decisions.length ? summaryTable("batch-decisions", t("batch_decisions"), [t("decision"), t("rows_n"), t("limit_total")],
        decisions.map(([d, n, total]) => [t(`decision_${d}`), n, fmtWan(total)])) : null,
      rules.length ? summaryTable("batch-rules", t("batch_rejects"), [t("rule"), t("rows_n"), t("example")],
        rules.map(([code, { n, example }]) => [code, n, localMessage(example)])) : null));
}

// ---------------------------------------------------------------- start
async function start() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  for (const b of $$("[data-lang]")) b.addEventListener("click", () => setLang(b.dataset.lang));
  for (const b of $$("#tabs [data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("#tabs").addEventListener("keydown", onTabKey);
  $("#profile-form").addEventListener("submit", submitProfile);
  $("#clear-form").addEventListener("click", () => fillForm({}));
  for (const b of $$("[data-example]")) b.addEventListener("click", () => fillForm(state.examples[b.dataset.example]));
  $("#history-form").addEventListener("submit", searchHistory);
  $("#history-refresh").addEventListener("click", () => loadHistory());
  $("#history-prev").addEventListener("click", () => pageHistory(-1));
  $("#history-next").addEventListener("click", () => pageHistory(1));
  $("#batch-form").addEventListener("submit", submitBatch);
  applyLang();
  if (api.session.key) await enter();
  document.body.dataset.ready = "true";
}

start();
