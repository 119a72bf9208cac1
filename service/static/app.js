// TechScore loan officer's page: sign-in, profile form, result, what-if, history, batch.
import * as api from "./api.js";
import { makeT, splitBilingual } from "./i18n.js";
import { radarChart } from "./radar.js";

const LANG_STORE = "techscore.lang";
const WHATIF_DEBOUNCE_MS = 300;
const WHATIF_MAX_FIELDS = 8;

const state = {
  lang: localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh",
  form: null,            // GET /v1/form
  fields: {},            // field name -> spec
  indicators: {},        // indicator key -> {label_zh, label_en, unit, inputs}
  examples: {},          // GET /v1/examples
  current: null,         // {result, recommendation, profile, id, createdAt, stored}
  whatIf: { changes: {}, extra: [], seq: 0, out: null, error: null, next: null },
  history: [],
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
const biT = (key, vars, tag) => bi(makeT("zh")(key, vars), makeT("en")(key, vars), tag);
const pick = (obj, base) => (state.lang === "en" ? obj[`${base}_en`] : obj[`${base}_zh`]);
const fmtPoints = (x) => (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(2);
const fmtPd = (p) => `${(100 * p).toFixed(p < 0.01 ? 3 : 2)}%`;
const fmtNum = (x) => (x === null || x === undefined ? t("missing")
  : Number.isInteger(x) ? String(x) : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(3));
/** The chosen half of a bilingual "中文 / English" API message. */
const localMessage = (msg) => splitBilingual(msg)[state.lang === "en" ? 1 : 0];
const fmtWan = (x) => `${Number(x).toLocaleString(state.lang === "en" ? "en-US" : "zh-CN", { maximumFractionDigits: 1 })} ${t("unit_wan")}`;

// ---------------------------------------------------------------- language
function applyLang() {
  t = makeT(state.lang);
  document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
  document.title = t("app_title");
  for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  for (const n of $$("[data-zh]")) n.textContent = state.lang === "en" ? n.dataset.en : n.dataset.zh;
  for (const b of $$("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
  renderResult();
  renderHistory();
  renderBatch();
}

function setLang(lang) {
  state.lang = lang;
  localStorage.setItem(LANG_STORE, lang);
  applyLang();
}

// ---------------------------------------------------------------- views
function showTab(name) {
  for (const v of ["assess", "history", "batch"]) $(`#view-${v}`).hidden = v !== name;
  for (const b of $$("#tabs [data-tab]")) b.classList.toggle("active", b.dataset.tab === name);
  if (name === "history") loadHistory();
}

function showSignedIn(yes) {
  $("#view-signin").hidden = yes;
  $("#tabs").hidden = !yes;
  $("#sign-out").hidden = !yes;
  if (yes) showTab("assess");
  else for (const v of ["assess", "history", "batch"]) $(`#view-${v}`).hidden = true;
}

async function signIn(ev) {
  ev.preventDefault();
  $("#signin-error").textContent = "";
  api.session.key = $("#api-key").value.trim();
  if (await enter()) $("#api-key").value = "";
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
    $("#signin-error").textContent = err.status === 401 || err.status === 403 ? t("bad_key") : t("network_error") + err.message;
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
  Object.assign(state, { current: null, history: [] });
  renderResult();
  renderHistory();
  renderBatch();
  showSignedIn(false);
}

/** A 401 anywhere means the key expired or was revoked: back to sign-in. */
function handleAuth(err) {
  if (err.status === 401) {
    signOut();
    $("#signin-error").textContent = t("bad_key");
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- profile form
function inputFor(spec) {
  const attrs = { id: `f-${spec.name}`, name: spec.name, title: spec.description };
  if (spec.kind === "bool" || spec.kind === "enum") {
    const options = spec.kind === "bool"
      ? [h("option", { value: "true" }, biT("yes")), h("option", { value: "false" }, biT("no"))]
      : spec.enum.map((v) => h("option", { value: v }, v));
    return h("select", attrs, h("option", { value: "" }, "—"), options);
  }
  if (spec.kind === "date") return h("input", { ...attrs, type: "date" });
  const numeric = spec.kind === "number" || spec.kind === "integer";
  return h("input", { ...attrs, type: "text", inputmode: numeric ? (spec.kind === "integer" ? "numeric" : "decimal") : null,
    maxlength: spec.max_length });
}

function fieldLabel(spec) {
  const unit = spec.unit && spec.unit !== "date" ? bi(spec.unit, spec.unit_en, "span", { class: "unit" }) : null;
  return h("label", { for: `f-${spec.name}`, title: spec.description },
    bi(spec.label_zh, spec.label_en), spec.required ? h("span", { class: "req" }, " *") : null, unit);
}

function renderForm() {
  const root = $("#form-sections");
  root.replaceChildren(...state.form.sections.map((sec) => h("fieldset", { dataset: { section: sec.key } },
    h("legend", {}, bi(sec.label_zh, sec.label_en)),
    sec.fields.map((spec) => h("div", { class: "field", dataset: { field: spec.name } },
      fieldLabel(spec), inputFor(spec), h("div", { class: "field-error", id: `e-${spec.name}`, role: "alert" }))))));
}

const NUMBER_RE = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Read one field's input as JSON: numbers parsed when they are numbers, anything else sent as typed
 *  so the API names the rule it breaks. Empty means "not submitted". */
function readValue(spec, raw) {
  const s = raw.trim();
  if (s === "") return undefined;
  if (spec.kind === "bool") return s === "true";
  if ((spec.kind === "number" || spec.kind === "integer") && NUMBER_RE.test(s)) return Number(s);
  return s;
}

function collectProfile() {
  const profile = {};
  for (const spec of Object.values(state.fields)) {
    const v = readValue(spec, $(`#f-${spec.name}`).value);
    if (v !== undefined) profile[spec.name] = v;
  }
  return profile;
}

function displayValue(v) {
  if (v === null || v === undefined || v === "") return "—";
  return typeof v === "boolean" ? t(v ? "yes" : "no") : String(v);
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

function clearFieldErrors() {
  for (const n of $$(".field-error")) n.replaceChildren();
  for (const n of $$(".invalid")) n.classList.remove("invalid");
  $("#form-error").replaceChildren();
}

/** Messages of a problem document: per field next to the field, the rest above the button. */
function showProblem(err) {
  clearFieldErrors();
  const general = [];
  for (const e of err.fieldErrors) {
    const [zh, en] = splitBilingual(e.problem);
    const box = e.field && $(`#e-${e.field}`);
    if (box) {
      box.append(bi(zh, en, "div"));
      $(`#f-${e.field}`).classList.add("invalid");
    } else general.push(bi(zh, en, "div"));
  }
  const summary = err.fieldErrors.length
    ? biT("fix_fields", { n: err.fieldErrors.length }, "div")
    : h("div", {}, err.problem.detail || err.problem.title || err.message);
  $("#form-error").replaceChildren(summary, ...general);
  const first = $(".invalid");
  if (first) first.scrollIntoView({ block: "center" });
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
  } catch (err) {
    if (!handleAuth(err)) showProblem(err);
  } finally {
    button.disabled = false;
    button.textContent = t("submit");
  }
}

// ---------------------------------------------------------------- results
/** The page's view of a scoring response (POST /v1/scores or a stored assessment's output). */
function fromScoreResponse(result, profile, stored) {
  return {
    result,
    recommendation: result.recommendation ?? null,
    profile,
    id: result.assessment_id ?? null,
    createdAt: result.assessed_at ?? null,
    stored,
  };
}

function setCurrent(current) {
  state.current = current;
  state.whatIf = { changes: {}, extra: [], seq: 0, out: null, error: null, next: null };
  renderResult();
}

function headline(r, cur) {
  const stage = r.lifecycle_stage ? t(`stage_${r.lifecycle_stage}`) : "";
  return h("div", { class: "headline" },
    h("div", {}, h("div", { class: "muted" }, t("score")), h("div", { class: "big", id: "result-score" }, r.score.toFixed(2))),
    h("div", {}, h("div", { class: "muted" }, t("grade")), h("div", { class: "grade", id: "result-grade" }, r.grade)),
    h("div", {}, h("div", { class: "muted" }, t("pd")), h("div", { class: "grade", id: "result-pd" }, fmtPd(r.pd))),
    h("div", { class: "muted" },
      h("div", {}, `${t("stage")}: ${stage}`),
      h("div", {}, `${t("model_version")}: ${r.model_version}`),
      cur.id !== null ? h("div", {}, `${t("assessment_id")}: `, h("span", { id: "result-assessment-id" }, cur.id)) : null,
      cur.createdAt ? h("div", {}, fmtTime(cur.createdAt)) : null));
}

function radarBlock(r) {
  const axes = r.dimensions.map((d) => ({ key: d.key, label: pick(d, "label"), rating: d.rating }));
  return h("div", { id: "radar" },
    h("div", { class: "section-title" }, t("radar_title")),
    radarChart(axes, t("radar_title")),
    h("div", { class: "legend" },
      h("span", {}, h("i", { class: "l-firm" }), t("legend_firm")),
      h("span", {}, h("i", { class: "l-median" }), t("legend_median"))));
}

function pointsTable(r) {
  const row = (label, pts, rating, cls) => h("tr", { class: cls },
    h("td", {}, label), h("td", { class: "num" }, pts), h("td", { class: "num" }, rating));
  return h("div", {},
    h("div", { class: "section-title" }, t("points_title")),
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
    const meta = ind ? `${x.code} · ${label}: ${t("value")} ${fmtNum(x.value)} / ${t("median")} ${fmtNum(x.stage_median)}` : x.code;
    return h("li", { dataset: { code: x.code } },
      x.points === null ? null : h("span", { class: "pts" }, fmtPoints(x.points)), " ", pick(x, "text"),
      h("div", { class: "meta" }, meta));
  }));
}

function knockoutBlock(r) {
  return h("div", { id: "knockouts" },
    h("div", { class: "section-title" }, t("knockouts")),
    r.knockouts.length
      ? h("ul", {}, r.knockouts.map((k) => h("li", { class: "knockout" }, [k.code, pick(k, "text")].filter(Boolean).join(": "))))
      : h("p", { class: "muted" }, t("no_knockouts")));
}

function recommendationBlock(rec) {
  const body = rec ? renderRecommendation(rec) : h("p", { class: "muted" }, t("no_recommendation"));
  return h("div", { id: "recommendation" }, h("div", { class: "section-title" }, t("recommendation")), body);
}

/** Decision, limit with its arithmetic, products, joint-loan split and the rules behind them. */
function renderRecommendation(rec) {
  const steps = rec.limit_steps ?? [];
  const products = rec.products ?? [];
  const jl = rec.joint_loan;
  return h("div", {},
    h("p", {}, h("strong", { id: "rec-decision", class: `decision-${rec.decision}` }, t(`decision_${rec.decision}`)),
      h("span", { class: "muted" }, ` — ${rec.decision_rule}`)),
    h("p", {}, `${t("limit")}: `, h("strong", { id: "rec-limit" }, fmtWan(rec.limit)),
      rec.limit_basis_zh ? h("span", { class: "muted" }, ` (${pick(rec, "limit_basis")})`) : null),
    steps.length ? h("details", {}, h("summary", {}, t("limit_steps")),
      h("table", { class: "table" }, h("tbody", {}, steps.map((st) => h("tr", {},
        h("td", {}, pick(st, "label")), h("td", { class: "num" }, st.value === null ? t("missing") : fmtNum(st.value)),
        h("td", { class: "muted" }, st.rule)))))) : null,
    h("div", {}, `${t("products")}: `, products.length ? null : t("none")),
    products.length ? h("ul", { id: "rec-products" }, products.map((p) => h("li", { dataset: { code: p.code } },
      h("strong", {}, p.name_zh ? pick(p, "name") : p.code),
      p.rules?.length ? h("div", { class: "meta muted" }, `${t("rules")}: ${p.rules.join("; ")}`) : null))) : null,
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
  box.replaceChildren(...[
    cur.stored ? h("div", { class: "stored", id: "stored-banner" }, t("stored_banner"), " ",
      cur.profile ? h("button", { type: "button", onclick: () => fillForm(cur.profile) }, t("load_profile")) : null) : null,
    headline(r, cur),
    h("div", { class: "result-grid" }, radarBlock(r), pointsTable(r)),
    knockoutBlock(r),
    h("div", { class: "section-title" }, t("reasons_down")), reasonList(r.reasons_down, "down"),
    h("div", { class: "section-title" }, t("reasons_up")), reasonList(r.reasons_up, "up"),
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
    const input = inputFor(spec);
    input.id = `w-${name}`;
    input.value = toInputValue(name in state.whatIf.changes ? state.whatIf.changes[name] : cur.profile[name]);
    input.addEventListener(spec.kind === "bool" || spec.kind === "enum" ? "change" : "input", () => onWhatIfInput(name, input.value));
    return h("div", { class: "field", dataset: { field: name } },
      h("label", { for: input.id }, pick(spec, "label"), spec.unit && spec.unit !== "date" ? h("span", { class: "unit" }, pick({ unit_zh: spec.unit, unit_en: spec.unit_en }, "unit")) : null),
      input,
      h("span", { class: "was" }, `${t("whatif_was")} ${displayValue(cur.profile[name])}`));
  });
  const others = Object.values(state.fields).filter((s) => !names.includes(s.name) && s.kind !== "date" && s.kind !== "text");
  const add = h("select", { id: "whatif-add", onchange: (e) => {
    if (e.target.value) { state.whatIf.extra.push(e.target.value); renderResult(); }
  } }, h("option", { value: "" }, t("whatif_add")), others.map((s) => h("option", { value: s.name }, pick(s, "label"))));
  return h("div", { class: "whatif", id: "whatif" },
    h("div", { class: "section-title" }, t("whatif_title")),
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
    state.whatIf.next = { error: err.message };
  }
  renderResult();
}

function nextGradeBlock() {
  const next = state.whatIf.next;
  if (!next) return null;
  if (next.error) return h("div", { class: "error", id: "next-grade-out" }, next.error);
  const apply = () => {
    for (const [field, value] of Object.entries(next.changes)) {
      if (!state.whatIf.extra.includes(field)) state.whatIf.extra.push(field);
      state.whatIf.changes[field] = value;
    }
    renderResult();
    runWhatIf();
  };
  return h("div", { class: "whatif-out", id: "next-grade-out" },
    next.reachable
      ? h("div", {}, h("strong", {}, `${t("next_grade_to")} ${next.target_grade}`),
        ` (${t("next_grade_points", { p: next.points_needed.toFixed(2) })})`,
        h("ol", {}, next.steps.map((st) => h("li", {}, `${pick(st, "label")} ${st.change} `,
          h("span", { class: "delta-pos" }, fmtPoints(st.points)), ` → ${st.grade_after}`))),
        h("button", { type: "button", id: "next-grade-apply", onclick: apply }, t("next_grade_apply")))
      : h("div", { class: "muted" }, next.message));
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
  const value = readValue(state.fields[name], raw);
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
  $("#whatif-out").replaceWith(whatIfOutput());
}

/** Old beside new, as POST /v1/scores/what-if compares them. */
function whatIfOutput() {
  // data-seq: which edit this answers (lets a test or benchmark wait for a given response)
  const box = h("div", { class: "whatif-out", id: "whatif-out", "aria-live": "polite", dataset: { seq: state.whatIf.seq } });
  const { out, error } = state.whatIf;
  if (error) {
    const lines = error.fieldErrors.length ? error.fieldErrors.map((e) => localMessage(e.problem)) : [error.message];
    box.append(...lines.map((m) => h("div", { class: "error" }, m)));
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
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("dimension")), h("th", { class: "num" }, t("whatif_before")),
        h("th", { class: "num" }, t("whatif_after")), h("th", { class: "num" }, t("whatif_change")))),
      h("tbody", {}, out.dimensions.map((d) => h("tr", {}, h("td", {}, pick(d, "label")),
        h("td", { class: "num" }, fmtPoints(d.before)), h("td", { class: "num" }, fmtPoints(d.after)),
        h("td", { class: `num ${cls(d.points)}` }, delta(d.points)))))),
    out.indicators.length ? h("ul", { class: "moved" }, out.indicators.map((x) => h("li", {},
      h("span", { class: cls(x.points) }, fmtPoints(x.points)), ` ${pick(x, "label")}: ${fmtNum(x.before)} → ${fmtNum(x.after)}`))) : null);
  return box;
}

// ---------------------------------------------------------------- history
async function loadHistory() {
  $("#history-error").textContent = "";
  const firm = $("#history-firm").value.trim();
  try {
    state.history = firm
      ? (await api.firmAssessments(firm)).assessments.map((a) => ({ ...a, firm_id: firm }))
      : await api.recentAssessments();
  } catch (err) {
    if (handleAuth(err)) return;
    $("#history-error").textContent = err.fieldErrors.length
      ? err.fieldErrors.map((e) => localMessage(e.problem)).join("\n")
      : err.message;
    state.history = [];
  }
  renderHistory();
}

const fmtTime = (iso) => new Date(iso).toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN");

function renderHistory() {
  const body = $("#history-table tbody");
  if (!state.history.length) {
    body.replaceChildren(h("tr", {}, h("td", { colspan: 8, class: "muted" }, t("history_empty"))));
    return;
  }
  body.replaceChildren(...state.history.map((a) => h("tr", { dataset: { id: a.assessment_id } },
    h("td", {}, fmtTime(a.assessed_at)),
    h("td", {}, a.firm_id ?? ""), h("td", {}, a.name ?? ""),
    h("td", { class: "num" }, a.score === null ? "" : Number(a.score).toFixed(2)), h("td", {}, a.grade ?? ""),
    h("td", {}, t(`channel_${a.channel}`)), h("td", {}, a.model_version),
    h("td", {}, h("button", { type: "button", onclick: () => openAssessment(a.assessment_id) }, t("open"))))));
}

/** A stored batch-CSV row (flat columns) in the shape of an API result, for the same view. */
function fromFlatRow(row) {
  const reasons = (prefix) => Object.keys(row).filter((k) => k.startsWith(prefix) && row[k]).map((k) => {
    const [code, text] = [row[k].slice(0, row[k].indexOf(" ")), row[k].slice(row[k].indexOf(" ") + 1)];
    const [zh, en] = splitBilingual(text);
    return { code, indicator: null, value: null, stage_median: null, points: null, text_zh: zh, text_en: en };
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
  return {
    decision: row.decision, decision_rule: row.decision_rule, limit: row.limit, policy_version: row.policy_version,
    limit_steps: row.limit_arithmetic ? [{ label_zh: row.limit_basis, label_en: row.limit_basis, value: row.limit, rule: row.limit_arithmetic }] : [],
    products: String(row.products ?? "").split(";").filter(Boolean).map((code) => ({ code })),
    joint_loan: amounts.length ? { banks: amounts.length, shares: amounts.map((a, b) => ({
      bank: b + 1, role: b ? "participant" : "lead", amount: a, share: a / row.limit })) } : null,
  };
}

async function openAssessment(id) {
  try {
    const a = await api.getAssessment(id);
    const structured = Array.isArray(a.output.dimensions);
    const result = structured ? a.output : fromFlatRow(a.output);
    // Only a single-firm input is a FirmProfile; a CSV row is kept as the file gave it.
    setCurrent({ ...fromScoreResponse(result, structured ? a.input : null, true), id: a.assessment_id,
      createdAt: a.assessed_at, channel: a.channel });
    showTab("assess");
  } catch (err) {
    if (!handleAuth(err)) $("#history-error").textContent = err.message;
  }
}

// ---------------------------------------------------------------- batch
function setProgress(stage, fraction) {
  $("#batch-stage").textContent = t({ upload: "uploading", process: "processing", download: "downloading", done: "done" }[stage]);
  const bar = $("#batch-progress");
  if (fraction === null) bar.removeAttribute("value");
  else bar.value = Math.round(100 * fraction);
  $("#batch-percent").textContent = fraction === null ? "" : `${Math.round(100 * fraction)}%`;
}

async function submitBatch(ev) {
  ev.preventDefault();
  const file = $("#batch-file").files[0];
  if (!file) return;
  $("#batch-error").textContent = "";
  revokeBatch();
  renderBatch();
  setProgress("upload", 0);
  try {
    const resp = await api.scoreCsv(file, setProgress, $("#batch-mapping").files[0] || null);
    state.batch = splitScored(await resp.blob.text(), file.name);
    setProgress("done", 1);
  } catch (err) {
    if (handleAuth(err)) return;
    setProgress("done", 0);
    const lines = err.fieldErrors.map((e) => localMessage(e.problem));
    $("#batch-error").textContent = [err.message, ...lines].join("\n");
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

/** The API answers one row per input row, rejects carrying their reasons in `error`: split them. */
function splitScored(text, name) {
  const [header, ...rows] = parseCsv(text.replace(/^\ufeff/, ""));
  const err = header.indexOf("error");
  const keep = header.map((_, i) => i).filter((i) => i !== err);
  const scored = rows.filter((r) => !r[err]).map((r) => keep.map((i) => r[i]));
  const rejectCols = ["row", "firm_id", "error"].map((c) => header.indexOf(c));
  const rejects = rows.filter((r) => r[err]).map((r) => rejectCols.map((i) => r[i]));
  const stem = name.replace(/\.[^.]*$/, "");
  return {
    summary: { rows: rows.length, scored: scored.length, rejected: rejects.length },
    scoredUrl: URL.createObjectURL(csvBlob([keep.map((i) => header[i]), ...scored])),
    scoredName: `${stem}.scored.csv`,
    rejectsUrl: rejects.length ? URL.createObjectURL(csvBlob([["row", "firm_id", "error"], ...rejects])) : null,
    rejectsName: `${stem}.rejects.csv`,
  };
}

function renderBatch() {
  const box = $("#batch-result");
  const b = state.batch;
  if (!b) return box.replaceChildren();
  box.replaceChildren(
    h("p", { id: "batch-summary" }, t("batch_summary", b.summary)),
    h("div", { class: "downloads" },
      h("a", { href: b.scoredUrl, download: b.scoredName, id: "download-scored" }, t("download_scored")),
      b.rejectsUrl ? h("a", { href: b.rejectsUrl, download: b.rejectsName, id: "download-rejects" }, t("download_rejects")) : null));
}

// ---------------------------------------------------------------- start
async function start() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  for (const b of $$("[data-lang]")) b.addEventListener("click", () => setLang(b.dataset.lang));
  for (const b of $$("#tabs [data-tab]")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("#profile-form").addEventListener("submit", submitProfile);
  $("#clear-form").addEventListener("click", () => fillForm({}));
  for (const b of $$("[data-example]")) b.addEventListener("click", () => fillForm(state.examples[b.dataset.example]));
  $("#history-refresh").addEventListener("click", loadHistory);
  $("#history-firm").addEventListener("change", loadHistory);
  $("#batch-form").addEventListener("submit", submitBatch);
  applyLang();
  if (api.session.key) await enter();
  document.body.dataset.ready = "true";
}

start();
