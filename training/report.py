"""The validation report: one self-contained HTML file (figures embedded) plus the same figures as PNG.

Without data the report draws the statistics stored at training time (`metrics.json` →
`validation`, computed on the holdout). With a file it scores the file with the bundle and
computes the same statistics on it (PSI against the training reference; the outcome sections
when the target column is present), writing them to `<report>.json` beside the HTML. Every
number in the HTML carries `data-metric="<path>"` into that dict, so tests can hold the two
equal.
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from features.tabular import TabularConfigError, target_labels  # noqa: E402
from models.bundle import ModelBundle, atomic_write_bytes  # noqa: E402
from models.drift import ACT, WATCH, DriftReference  # noqa: E402
from models.explain import AdditiveTables  # noqa: E402
from models.scoring import Scorer  # noqa: E402
from training.train import pd_of  # noqa: E402
from training.validation import evaluate  # noqa: E402

FIGURES = ("roc", "ks", "calibration", "score_distribution", "importance", "psi")


class ReportError(ValueError):
    """The data given to the report cannot be scored with this model."""


def fmt(value: Any) -> str:
    """How every number appears in the report (tests format metrics.json the same way)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return format(float(value), ".4g")


def challenger_pd(bundle: ModelBundle, X: np.ndarray) -> np.ndarray | None:
    """PD of the stored challenger on an indicator matrix (None for bundles without one)."""
    ch = bundle.extras.get("challenger")
    if not ch:
        return None
    return pd_of(AdditiveTables.from_dict(ch["tables"]), ch["calibration"], X)


def _labels(frame: pd.DataFrame, target: str, scorer: Scorer) -> np.ndarray | None:
    """The outcome column as 0/1 (generic mode: the training file's coding), None when absent."""
    if target not in frame:
        return None
    if scorer.tabular is not None:
        try:
            return target_labels(frame, target, scorer.tabular.target_positive)
        except TabularConfigError as exc:
            raise ReportError(str(exc)) from exc
    y = pd.to_numeric(frame[target], errors="coerce")
    if not y.isin([0, 1]).all():
        bad = frame.index[~y.isin([0, 1])][:5].tolist()
        raise ReportError(f"target {target!r} must be 0 or 1; rows {bad} are not")
    return y.to_numpy(dtype=int)


def evaluate_file(bundle: ModelBundle, raw: pd.DataFrame, target: str | None = None) -> dict[str, Any]:
    """Score a file with the bundle and compute the report's statistics on it."""
    if "drift_reference" not in bundle.extras:
        raise ReportError(f"model {bundle.version} has no training reference bins; retrain it with this version")
    scorer = Scorer(bundle)
    checked = scorer.validate(raw)
    if not len(checked.clean):
        first = checked.rejects.head(3).to_dict(orient="records")
        raise ReportError(f"no row of the file passes validation; first problems: {first}")
    batch = scorer.score(checked.clean)
    target = target or (bundle.extras.get("tabular") or {}).get("target") or "default_12m"
    y = _labels(checked.frame, target, scorer)
    ch = bundle.extras.get("challenger", {})
    out = evaluate(y=y, pd_=batch.pd, score=batch.score, grade=batch.grade, points=batch.points, X=batch.values,
                   stage=batch.stage, catalogue=scorer.catalogue, reference=DriftReference.from_dict(bundle.extras["drift_reference"]),
                   champion_tables=scorer.tables, challenger_pd=challenger_pd(bundle, batch.values),
                   names=(bundle.extras.get("champion", "lightgbm_additive"), ch.get("name", "challenger")))
    out["sample"]["rejected"] = int(checked.n_input - len(checked.clean))
    return out


# ------------------------------------------------------------------ figures
def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _fig_roc(v: dict) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.plot(v["roc"]["fpr"], v["roc"]["tpr"], label=f"{v['champion_name']} (AUC {fmt(v['champion']['auc'])})")
    if "challenger_roc" in v:
        ax.plot(v["challenger_roc"]["fpr"], v["challenger_roc"]["tpr"], label=f"{v['challenger_name']} (AUC {fmt(v['challenger']['auc'])})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right")
    return _png(fig)


def _fig_ks(v: dict) -> bytes:
    k = v["ks_curve"]
    fig, ax = plt.subplots(figsize=(5, 4.2))
    ax.plot(k["score"], k["cum_bad"], label="defaults")
    ax.plot(k["score"], k["cum_good"], label="non-defaults")
    ax.axvline(k["ks_score"], color="grey", ls=":", label=f"KS {fmt(k['ks'])} at {fmt(k['ks_score'])}")
    ax.set(xlabel="score", ylabel="cumulative share at or below score", title="KS")
    ax.legend()
    return _png(fig)


def _fig_calibration(v: dict) -> bytes:
    c = pd.DataFrame(v["calibration"])
    fig, ax = plt.subplots(figsize=(5, 4.2))
    err = [c["default_rate"] - c["ci_low"], c["ci_high"] - c["default_rate"]]
    ax.errorbar(c["mean_pd"], c["default_rate"], yerr=err, fmt="o", capsize=3, label="observed (95% Wilson CI)")
    top = float(max(c["ci_high"].max(), c["mean_pd"].max()))
    ax.plot([0, top], [0, top], ":", color="grey", label="perfect calibration")
    ax.set(xlabel="mean predicted PD (decile)", ylabel="observed default rate", title="Calibration by decile")
    ax.legend()
    return _png(fig)


def _fig_scores(v: dict) -> bytes:
    h = v["score_distribution"]
    edges = np.asarray(h["edges"])
    fig, ax = plt.subplots(figsize=(5, 4.2))
    series = {"non-defaults": h["good"], "defaults": h["bad"]} if "good" in h else {"all": h["all"]}
    for label, counts in series.items():
        counts = np.asarray(counts, dtype=float)
        ax.stairs(counts / max(counts.sum(), 1), edges, label=label, fill=False)
    ax.set(xlabel="score", ylabel="share of the group", title="Score distribution by outcome")
    ax.legend()
    return _png(fig)


def _fig_importance(v: dict) -> bytes:
    g = v["importance"]["groups"]
    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.45 * len(g)))
    ax.barh([r["label_en"] for r in g][::-1], [r["mean_abs_points"] for r in g][::-1])
    ax.set(xlabel="mean |points|", title="Importance by dimension")
    return _png(fig)


def _fig_psi(v: dict) -> bytes:
    rows = sorted(v["psi"]["features"], key=lambda r: -r["psi"])[:20]
    fig, ax = plt.subplots(figsize=(5, 0.6 + 0.28 * (len(rows) + 1)))
    labels = ["score"] + [r["feature"] for r in rows]
    ax.barh(labels[::-1], ([v["psi"]["score"]["psi"]] + [r["psi"] for r in rows])[::-1])
    ax.axvline(WATCH, color="orange", ls="--", label=f"watch {WATCH}")
    ax.axvline(ACT, color="red", ls="--", label=f"act {ACT}")
    ax.set(xlabel="PSI vs training reference", title="Population stability (top 20)")
    ax.legend(loc="lower right")
    return _png(fig)


def figures(v: dict) -> dict[str, bytes]:
    """PNG bytes per figure; outcome figures only when the sample has outcomes."""
    out = {"score_distribution": _fig_scores(v), "importance": _fig_importance(v), "psi": _fig_psi(v)}
    if "champion" in v:
        out.update(roc=_fig_roc(v), ks=_fig_ks(v), calibration=_fig_calibration(v))
    return {k: out[k] for k in FIGURES if k in out}


# ------------------------------------------------------------------ HTML
def _cell(value: Any, path: str) -> str:
    return f'<td data-metric="{html.escape(path)}">{html.escape(fmt(value))}</td>'


def _table(header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _records(v: dict, key: str, cols: list[str], label: str) -> str:
    rows = []
    for i, r in enumerate(v[key]):
        cells = "".join(_cell(r[c], f"{key}.{i}.{c}") if c != label else f"<td>{html.escape(str(r[c]))}</td>" for c in cols)
        rows.append(f"<tr>{cells}</tr>")
    return _table(cols, rows)


def _section_models(v: dict) -> str:
    if "champion" not in v:
        return "<p>The file has no outcome column: discrimination and calibration are not shown.</p>"
    keys = ("auc", "gini", "ks", "brier", "ece", "default_rate", "mean_pd", "n")
    rows = []
    for k in keys:
        ch = _cell(v["challenger"][k], f"challenger.{k}") if "challenger" in v else "<td>–</td>"
        rows.append(f"<tr><td>{k}</td>{_cell(v['champion'][k], f'champion.{k}')}{ch}</tr>")
    b = v["bootstrap"]
    ci = (f"<p>Champion 95% bootstrap intervals ({_span(b['n_boot'], 'bootstrap.n_boot')} resamples): "
          f"AUC {_span(b['auc_low'], 'bootstrap.auc_low')} – {_span(b['auc_high'], 'bootstrap.auc_high')}, "
          f"KS {_span(b['ks_low'], 'bootstrap.ks_low')} – {_span(b['ks_high'], 'bootstrap.ks_high')}.</p>")
    return _table(["metric", f"champion: {v['champion_name']}", f"challenger: {v['challenger_name']}"], rows) + ci


def _span(value: Any, path: str) -> str:
    return f'<span data-metric="{html.escape(path)}">{html.escape(fmt(value))}</span>'


def _section_sample(v: dict, source: str) -> str:
    s = v["sample"]
    rows = [f"<tr><td>{html.escape(k)}</td>{_cell(s[k], f'sample.{k}')}</tr>" for k in ("n", "rejected", "defaults", "default_rate", "mean_pd") if k in s]
    rows += [f"<tr><td>stage {html.escape(k)}</td>{_cell(c, f'sample.stages.{k}')}</tr>" for k, c in s.get("stages", {}).items()]
    return f"<p>Sample: {html.escape(source)}</p>" + _table(["", "value"], rows)


def _section_psi(v: dict) -> str:
    p = v["psi"]
    rows = [f"<tr><td>score</td>{_cell(p['score']['psi'], 'psi.score.psi')}<td>{p['score']['status']}</td></tr>"]
    rows += [f"<tr><td>{html.escape(r['feature'])}</td>{_cell(r['psi'], f'psi.features.{i}.psi')}<td>{r['status']}</td></tr>"
             for i, r in enumerate(p["features"])]
    return (f"<p>Overall status: <b>{p['status']}</b> (watch ≥ {WATCH}, act ≥ {ACT}; {_span(p['n'], 'psi.n')} rows)</p>"
            + _table(["feature", "PSI", "status"], rows))


def _section_importance(v: dict) -> str:
    g = "".join(f"<tr><td>{html.escape(r['label_en'])}</td>{_cell(r['mean_abs_points'], f'importance.groups.{i}.mean_abs_points')}</tr>"
                for i, r in enumerate(v["importance"]["groups"]))
    f = "".join(f"<tr><td>{html.escape(r['feature'])}</td><td>{html.escape(r['group'])}</td>"
                f"{_cell(r['mean_abs_points'], f'importance.features.{i}.mean_abs_points')}</tr>"
                for i, r in enumerate(v["importance"]["features"]))
    return _table(["dimension", "mean |points|"], [g]) + "<h3>Per indicator</h3>" + _table(["indicator", "dimension", "mean |points|"], [f])


def _img(name: str, png: bytes) -> str:
    return f'<figure><img alt="{name}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/></figure>'


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:0 1em 1em 0}h2{border-bottom:2px solid #345;margin-top:1.6em}"""


def render_html(v: dict, figs: dict[str, bytes], manifest: dict[str, Any], source: str) -> str:
    """The whole report as one HTML string (no external resources)."""
    img = lambda k: _img(k, figs[k]) if k in figs else ""  # noqa: E731
    parts = [
        f"<h1>TechScore validation report</h1><p>Model <b>{html.escape(str(manifest.get('version')))}</b>, created "
        f"{html.escape(str(manifest.get('created_at')))}; champion <b>{html.escape(v['champion_name'])}</b>, "
        f"challenger {html.escape(v['challenger_name'])}; bundle sha256 {html.escape(str(manifest.get('sha256', ''))[:16])}…</p>",
        "<h2>Sample</h2>", _section_sample(v, source),
        "<h2>Champion and challenger</h2>", _section_models(v),
    ]
    if "champion" in v:
        parts += ["<h2>Discrimination</h2>", img("roc"), img("ks"),
                  "<h2>Calibration</h2>", img("calibration"),
                  _records(v, "calibration", ["decile", "n", "defaults", "mean_pd", "default_rate", "ci_low", "ci_high"], "decile"),
                  "<h2>Grades</h2><p>p-value: one-sided binomial test of H0 “default rate ≤ mean PD”; "
                  "rejected = the grade's PD looks too optimistic at 5%.</p>",
                  _records(v, "grades", ["grade", "count", "defaults", "default_rate", "mean_pd", "p_value", "rejected"], "grade")]
    parts += ["<h2>Score distribution</h2>", img("score_distribution"),
              "<h2>Importance by dimension</h2>", img("importance"), _section_importance(v),
              "<h2>Monotonicity of constrained indicators</h2><p>From the champion's compiled lookup tables: "
              "the points curve of each indicator with a declared direction.</p>",
              _records(v, "monotonicity", ["feature", "direction", "intervals", "monotone", "worst_step"], "feature"),
              "<h2>Population stability</h2>", img("psi"), _section_psi(v)]
    body = "\n".join(parts)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>TechScore validation report '
            f"{html.escape(str(manifest.get('version')))}</title><style>{CSS}</style></head><body>{body}</body></html>")


@dataclass
class ReportFiles:
    html: Path
    json: Path | None
    pngs: list[Path]


def write_report(bundle: ModelBundle, manifest: dict[str, Any], out: Path, data: pd.DataFrame | None = None,
                 source: str = "", target: str | None = None) -> ReportFiles:
    """Write the HTML, its PNG figures (`<stem>.<figure>.png`) and, for a given file, `<stem>.json`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        if "validation" not in bundle.metrics:
            raise ReportError(f"model {bundle.version} predates validation reports; retrain it, or pass --data")
        v = bundle.metrics["validation"]
        source = "training holdout (numbers as in the model's metrics.json → validation)"
        json_path = None
    else:
        v = evaluate_file(bundle, data, target)
        json_path = out.with_suffix(".json")
    figs = figures(v)
    pngs = []
    for name, png in figs.items():
        path = out.with_name(f"{out.stem}.{name}.png")
        atomic_write_bytes(path, png)
        pngs.append(path)
    if json_path is not None:
        atomic_write_bytes(json_path, json.dumps(v, indent=1, ensure_ascii=False).encode())
    atomic_write_bytes(out, render_html(v, figs, manifest, source).encode("utf-8"))
    return ReportFiles(out, json_path, pngs)


def report_html_for(bundle: ModelBundle, manifest: dict[str, Any]) -> str:
    """The holdout report as an HTML string (what `GET /v1/model/report` serves)."""
    v = bundle.metrics["validation"]
    return render_html(v, figures(v), manifest, "training holdout")

