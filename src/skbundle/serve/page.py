"""The page at ``GET /``: try the model in a browser.

One self-contained HTML document (inline CSS and JavaScript, no external assets): a form
with every feature, pre-filled with a typical record (training means), a button that calls
``POST /predict``, the predicted class with a probability bar per class, and each validation
problem shown next to its field. Values are sent as typed; the server's validator, not the
page, decides what is wrong, so the page shows exactly what an API client would get.
"""

from __future__ import annotations

import html
from typing import Any

import orjson

from skbundle.bundle import Bundle

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  :root { --fg: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #2f6fde;
          --bad: #c62828; --bg: #f5f7fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
         color: var(--fg); background: var(--bg); }
  header { background: #fff; border-bottom: 1px solid var(--line); padding: 14px 24px; }
  header h1 { margin: 0; font-size: 20px; }
  header p { margin: 2px 0 0; color: var(--muted); }
  main { display: grid; grid-template-columns: minmax(0, 1fr) 340px; gap: 20px;
         padding: 20px 24px; align-items: start; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
  section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px; }
  h2 { font-size: 15px; margin: 0 0 12px; }
  .fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr));
            gap: 10px 16px; }
  .field label { display: block; font-weight: 600; font-size: 12.5px; }
  .field input { width: 100%; padding: 5px 7px; border: 1px solid var(--line);
                 border-radius: 4px; font: inherit; }
  .field .hint { color: var(--muted); font-size: 11.5px; }
  .field.invalid input { border-color: var(--bad); background: #fff5f5; }
  .field .err { color: var(--bad); font-size: 12px; min-height: 0; }
  .actions { margin-top: 14px; display: flex; gap: 8px; align-items: center; }
  button { font: inherit; padding: 7px 16px; border-radius: 5px; border: 1px solid var(--accent);
           background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: var(--accent); }
  #result .label { font-size: 26px; font-weight: 700; margin: 4px 0 10px; }
  .bar { margin: 6px 0; }
  .bar .name { display: flex; justify-content: space-between; font-size: 13px; }
  .bar .track { height: 12px; background: #e4e7eb; border-radius: 6px; overflow: hidden; }
  .bar .fill { height: 100%; background: var(--accent); }
  .bar.top .fill { background: #1b9e5a; }
  #general { color: var(--bad); white-space: pre-wrap; }
  #warnings { color: #8d6e00; font-size: 12.5px; }
  .muted { color: var(--muted); }
  code { background: #eef2f7; padding: 1px 4px; border-radius: 3px; }
</style>
</head>
<body>
<header>
  <h1>__NAME__ <span class="muted">__VERSION__</span></h1>
  <p>Classes: __CLASSES__ &middot; runtime: __RUNTIME__ &middot;
     API: <code>POST /predict</code>, <a href="/docs">/docs</a>,
     <a href="/metadata">/metadata</a></p>
</header>
<main>
  <section>
    <h2>Features <span class="muted">(pre-filled with a typical record: training means)</span></h2>
    <form id="form" novalidate>
      <div id="auth" class="field" hidden>
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autocomplete="off">
      </div>
      <div class="fields" id="fields"></div>
      <div class="actions">
        <button type="submit" id="predict">Predict</button>
        <button type="button" class="secondary" id="reset">Reset to typical</button>
        <span id="status" class="muted"></span>
      </div>
    </form>
  </section>
  <section id="result" aria-live="polite">
    <h2>Prediction</h2>
    <div id="empty" class="muted">Press <b>Predict</b> to score the record.</div>
    <div id="general"></div>
    <div id="answer" hidden>
      <div class="label" id="label"></div>
      <div id="confidence" class="muted"></div>
      <div id="bars"></div>
      <div id="warnings"></div>
    </div>
  </section>
</main>
<script type="application/json" id="config">__CONFIG__</script>
<script>
"use strict";
const CONFIG = JSON.parse(document.getElementById("config").textContent);
const fieldsBox = document.getElementById("fields");
const inputs = new Map();
const slots = new Map();
const NUMBER = /^[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?$/;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

CONFIG.features.forEach((f, i) => {
  const box = el("div", "field");
  box.dataset.field = f.name;
  const label = el("label", null, f.name);
  label.htmlFor = "f" + i;
  const input = el("input");
  input.id = "f" + i;
  input.name = f.name;
  input.inputMode = "decimal";
  input.autocomplete = "off";
  const hint = el("div", "hint", f.range + (f.missing_allowed ? " \\u00b7 may be empty" : ""));
  const err = el("div", "err");
  box.append(label, input, hint, err);
  fieldsBox.append(box);
  inputs.set(f.name, input);
  slots.set(f.name, box);
});

function reset() {
  for (const [name, input] of inputs) input.value = String(CONFIG.example[name]);
  clearErrors();
}

function clearErrors() {
  for (const box of slots.values()) {
    box.classList.remove("invalid");
    box.querySelector(".err").textContent = "";
  }
  document.getElementById("general").textContent = "";
}

function value(text) {
  const t = text.trim();
  if (t === "") return null;
  return NUMBER.test(t) ? Number(t) : t;
}

function showResult(result) {
  document.getElementById("empty").hidden = true;
  document.getElementById("answer").hidden = false;
  document.getElementById("label").textContent = result.prediction;
  document.getElementById("confidence").textContent =
    "confidence " + (100 * result.confidence).toFixed(1) + "%";
  const bars = document.getElementById("bars");
  bars.replaceChildren();
  for (const cls of CONFIG.classes) {
    const p = result.probabilities[cls];
    const bar = el("div", "bar" + (cls === result.prediction ? " top" : ""));
    bar.dataset.class = cls;
    const name = el("div", "name");
    name.append(el("span", null, cls), el("span", null, (100 * p).toFixed(1) + "%"));
    const track = el("div", "track");
    const fill = el("div", "fill");
    fill.style.width = (100 * p).toFixed(2) + "%";
    track.append(fill);
    bar.append(name, track);
    bars.append(bar);
  }
  document.getElementById("warnings").textContent =
    result.warnings.length ? "Warnings: " + result.warnings.join("; ") : "";
}

function showProblems(body) {
  const general = [];
  for (const p of body.problems || []) {
    const box = p.field !== null ? slots.get(p.field) : undefined;
    if (box) {
      box.classList.add("invalid");
      const err = box.querySelector(".err");
      err.textContent = (err.textContent ? err.textContent + "; " : "") +
        p.problem + "; expected " + p.expected;
    } else {
      general.push((p.field ? p.field + ": " : "") + p.problem + "; expected " + p.expected);
    }
  }
  if (!body.problems || body.problems.length === 0) general.push(body.message || body.error);
  const onFields = (body.problems || []).length - general.length;
  if (onFields > 0) {
    general.unshift(onFields + (onFields === 1 ? " problem" : " problems") +
      ": see the highlighted fields.");
  }
  document.getElementById("general").textContent = general.join("\\n");
  document.getElementById("answer").hidden = true;
}

document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  const record = {};
  for (const [name, input] of inputs) record[name] = value(input.value);
  const headers = {"Content-Type": "application/json"};
  const key = document.getElementById("api-key").value;
  if (key) headers["Authorization"] = "Bearer " + key;
  const status = document.getElementById("status");
  status.textContent = "scoring...";
  try {
    const body0 = JSON.stringify(record);
    const response = await fetch("/predict", {method: "POST", headers, body: body0});
    const body = await response.json();
    status.textContent = "HTTP " + response.status;
    if (response.ok) showResult(body); else showProblems(body);
  } catch (error) {
    status.textContent = "";
    document.getElementById("general").textContent = "Request failed: " + error;
  }
});
document.getElementById("reset").addEventListener("click", reset);
document.getElementById("auth").hidden = !CONFIG.auth;
reset();
</script>
</body>
</html>
"""


def _range(spec: Any) -> str:
    if spec.min is None:
        return "no training values"
    return f"training range {spec.min:.4g} to {spec.max:.4g}"


def render(bundle: Bundle, example: dict[str, float], *, auth: bool) -> str:
    """The page for ``bundle``; computed once when the app starts."""
    config = {
        "features": [
            {"name": f.name, "range": _range(f), "missing_allowed": f.missing_allowed}
            for f in bundle.validator.features
        ],
        "classes": bundle.classes,
        "example": example,
        "auth": auth,
    }
    # Inside <script>, "</" must not appear: escape "<" so no value can close the element.
    config_json = orjson.dumps(config).decode().replace("<", "\\u003c")
    replacements = {
        "__TITLE__": html.escape(f"{bundle.name} {bundle.version} · skbundle"),
        "__NAME__": html.escape(bundle.name),
        "__VERSION__": html.escape(bundle.version),
        "__CLASSES__": html.escape(", ".join(bundle.classes)),
        "__RUNTIME__": html.escape(bundle.runtime.format),
        "__CONFIG__": config_json,
    }
    page = _TEMPLATE
    for key, value in replacements.items():
        page = page.replace(key, value)
    return page
