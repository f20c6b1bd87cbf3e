// herald console: plain DOM, no framework, no CDN. Every value from the
// API goes into the page as text (textContent), never as markup: response
// excerpts and errors come from receivers and are hostile.
"use strict";

const TOKEN_KEY = "herald-admin-token";
const REFRESH_MS = 2000;
const SAMPLES = 150; // 5 minutes at one sample every 2 s
const $ = (id) => document.getElementById(id);

let selected = null; // the delivery shown in the drill-down
let cursor = null; // the deliveries page shown (null: the newest)
let nextCursor = null; // the page after it
let lastDecision = 0;
let lastDelivered = null;
const samples = []; // {depth, rate}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function say(text) {
  $("status").textContent = text;
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (options.method === "POST") headers["Content-Type"] = "application/json";
  const sent = options.method === "POST" ? JSON.stringify(options.json || {}) : undefined;
  const response = await fetch(path, { method: options.method, headers, body: sent });
  if (response.status === 401) throw new Unauthorized();
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(label, onClick, id) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (id) b.id = id;
  b.addEventListener("click", onClick);
  return b;
}

function time(text) {
  return text ? text.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "";
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function refreshEndpoints() {
  const data = await api("/v1/endpoints");
  const rows = data.endpoints.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.endpointId = e.id;
    cell(tr, e.id + (e.direct_messages ? " (direct messages)" : ""));
    cell(tr, e.type);
    const words = {
      enabled: "enabled",
      disabled_in_config: "disabled in the config file",
      disabled_by_operator: "disabled by an operator",
      disabled_by_herald: `disabled by herald: ${e.disabled_reason}`,
    };
    cell(tr, words[e.state] || e.state, `state ${e.state === "enabled" ? "enabled" : "disabled"}`);
    cell(tr, e.consecutive_failures);
    cell(tr, e.pending);
    cell(tr, e.lease_holder ? `${e.lease_holder} · ${e.lease_epoch}` : "nobody");
    const action = document.createElement("td");
    const on = e.state === "enabled";
    action.appendChild(button(on ? "Disable" : "Enable", () => setEnabled(e.id, !on), `${on ? "disable" : "enable"}-${e.id}`));
    action.appendChild(button("Send test", () => act(`/v1/endpoints/${encodeURIComponent(e.id)}/test`, `Test event sent to ${e.id}`, { requested_by: "console" }), `test-${e.id}`));
    action.appendChild(button("Recover", () => recover(e.id), `recover-${e.id}`));
    tr.appendChild(action);
    return tr;
  });
  fill($("endpoints").tBodies[0], rows);
  const invalid = data.invalid.map((i) => `${i.id}: ${i.reason}`).join("; ");
  $("invalid").hidden = !invalid;
  $("invalid").textContent = invalid ? `Not usable: ${invalid}` : "";
  const select = $("filter-endpoint");
  const chosen = select.value;
  const options = [new Option("all", "")].concat(data.endpoints.map((e) => new Option(e.id, e.id)));
  select.replaceChildren(...options);
  select.value = chosen;
  return data.endpoints.reduce((sum, e) => sum + e.pending, 0);
}

async function setEnabled(id, enabled) {
  await act(`/v1/endpoints/${encodeURIComponent(id)}/${enabled ? "enable" : "disable"}`, `${id} ${enabled ? "enabled" : "disabled"}`);
}

async function recover(id) {
  const since = $("recover-since").value.trim() || "1h";
  try {
    const answer = await api(`/v1/endpoints/${encodeURIComponent(id)}/recover`, { method: "POST", json: { since, requested_by: "console" } });
    say(`${answer.replayed} failed deliveries of ${id} since ${since} queued again`);
    await refresh();
  } catch (error) {
    handle(error);
  }
}

async function act(path, done, json) {
  try {
    await api(path, { method: "POST", json });
    say(done);
    await refresh();
  } catch (error) {
    handle(error);
  }
}

async function refreshSilences() {
  const data = await api("/v1/silences");
  const rows = data.silences.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.silenceId = s.id;
    cell(tr, s.matchers.join(", "), "matchers");
    cell(tr, s.state, `state ${s.state}`);
    cell(tr, s.action);
    cell(tr, s.held);
    cell(tr, time(s.ends_at));
    cell(tr, `${s.comment} · ${s.created_by}`);
    const action = document.createElement("td");
    action.appendChild(button("Expire", () => act(`/v1/silences/${encodeURIComponent(s.id)}/expire`, `Silence expired; what it held is queued again`), `expire-${s.id}`));
    tr.appendChild(action);
    return tr;
  });
  fill($("silences").tBodies[0], rows);
  $("no-silences").hidden = rows.length > 0;
}

// Split matchers written on one line at the commas between them (not
// those inside quotes).
function splitMatchers(text) {
  const parts = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && quoted && i + 1 < text.length) {
      current += c + text[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === "," && !quoted) {
      if (current.trim()) parts.push(current.trim());
      current = "";
    } else {
      current += c;
    }
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

async function createSilence() {
  const json = {
    matchers: splitMatchers($("silence-matchers").value),
    duration: $("silence-duration").value.trim(),
    action: $("silence-action").value,
    comment: $("silence-comment").value.trim(),
    created_by: "console",
  };
  try {
    const silence = await api("/v1/silences", { method: "POST", json });
    say(`Silence ${silence.id} until ${time(silence.ends_at)}`);
    $("silence-matchers").value = "";
    $("silence-comment").value = "";
    await refresh();
  } catch (error) {
    handle(error);
  }
}

async function refreshDeliveries() {
  const query = new URLSearchParams({ limit: "50" });
  if ($("filter-endpoint").value) query.set("endpoint", $("filter-endpoint").value);
  if ($("filter-status").value) query.set("status", $("filter-status").value);
  if ($("filter-type").value.trim()) query.set("event_type", $("filter-type").value.trim());
  if ($("filter-event").value.trim()) query.set("event_id", $("filter-event").value.trim());
  if (cursor !== null) query.set("cursor", String(cursor));
  const data = await api(`/v1/deliveries?${query}`);
  nextCursor = data.next_cursor;
  $("older").disabled = nextCursor === null || nextCursor === undefined;
  $("newest").disabled = cursor === null;
  $("page").textContent = cursor === null ? "newest first" : `older than #${cursor}`;
  const rows = data.deliveries.map((d) => {
    const tr = document.createElement("tr");
    tr.dataset.deliveryId = d.id;
    if (selected === d.id) tr.className = "selected";
    cell(tr, d.id);
    cell(tr, d.state, `state ${d.state}`);
    cell(tr, d.recipient ? `${d.endpoint_id} → user ${d.recipient}` : d.endpoint_id);
    cell(tr, d.event_type);
    cell(tr, d.attempts);
    const gate = { filtered: "filter: ", muted: "muted by ", held: "held by " }[d.state];
    const why = gate && d.gated_by ? `${gate}${d.gated_by}${d.held_until ? ` until ${time(d.held_until)}` : ""}` : null;
    cell(tr, d.waiting || why || d.last_error, "error");
    cell(tr, time(d.created_at));
    const details = document.createElement("td");
    details.appendChild(button("Details", () => showDelivery(d.id), `details-${d.id}`));
    tr.appendChild(details);
    return tr;
  });
  fill($("deliveries").tBodies[0], rows);
  if (selected !== null) await showDelivery(selected, false);
}

async function showDelivery(id, focus = true) {
  const data = await api(`/v1/deliveries/${id}`);
  selected = id;
  const d = data.delivery;
  $("detail-title").textContent = `Delivery #${d.id} · ${d.event_type} → ${d.endpoint_id}${d.recipient ? ` (user ${d.recipient})` : ""} · ${d.state}`;
  const rows = data.attempts.map((a) => {
    const tr = document.createElement("tr");
    cell(tr, a.attempt);
    cell(tr, a.status, `state ${a.status === "succeeded" ? "delivered" : "failed"}`);
    cell(tr, a.http_status);
    cell(tr, `${a.latency_ms} ms`);
    cell(tr, a.error, "error");
    cell(tr, a.response_excerpt, "excerpt");
    cell(tr, time(a.created_at));
    return tr;
  });
  fill($("attempts").tBodies[0], rows);
  $("payload").textContent = JSON.stringify(data.event.payload, null, 2);
  const requests = data.attempts.map((a) => {
    const block = document.createElement("div");
    const title = document.createElement("p");
    const why = a.requested_by ? `${a.trigger} by ${a.requested_by}` : a.trigger;
    title.textContent = `Attempt ${a.attempt} (${why}) · POST ${a.url}`;
    const pre = document.createElement("pre");
    const headers = (a.request_headers || []).map(([name, value]) => `${name}: ${value}`).join("\n");
    pre.textContent = a.request_headers ? `${headers}\n\n${a.request_body || ""}` : "(nothing was sent)";
    block.append(title, pre);
    return block;
  });
  $("requests").replaceChildren(...requests);
  $("replay").hidden = d.state === "pending";
  $("detail").hidden = false;
  for (const tr of $("deliveries").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.deliveryId === String(id));
  if (focus) $("detail").focus();
}

async function refreshWindows() {
  const rows = [];
  try {
    const data = await api("/v1/windows");
    for (const w of data.windows) {
      const tr = document.createElement("tr");
      cell(tr, w.plan_id);
      cell(tr, w.generation);
      cell(tr, `${w.failed} / ${w.tasks}`);
      const seconds = Math.max(0, Math.round((Date.parse(w.deadline) - Date.now()) / 1000));
      cell(tr, `${seconds} s (${time(w.deadline)})`);
      rows.push(tr);
    }
  } catch (error) {
    if (error instanceof Unauthorized) throw error;
  }
  fill($("windows").tBodies[0], rows);
  $("no-windows").hidden = rows.length > 0;
}

async function deliveredSoFar() {
  const text = await api("/metrics");
  // One series per endpoint: their sum.
  let sum = 0;
  for (const match of text.matchAll(/^herald_deliveries_total\{[^}]*state="delivered"[^}]*\}\s+([0-9.e+]+)$/gm)) {
    sum += Number(match[1]);
  }
  return sum;
}

function plot(depth) {
  return deliveredSoFar().then((delivered) => {
    const rate = lastDelivered === null ? 0 : Math.max(0, (delivered - lastDelivered) / (REFRESH_MS / 1000));
    lastDelivered = delivered;
    samples.push({ depth, rate });
    if (samples.length > SAMPLES) samples.shift();
    $("depth").textContent = depth;
    $("rate").textContent = rate.toFixed(1);
    const line = (key) => {
      const max = Math.max(1, ...samples.map((s) => s[key]));
      const step = 300 / Math.max(1, samples.length - 1);
      return samples.map((s, i) => `${i * step},${85 - (s[key] / max) * 80}`).join(" ");
    };
    $("depth-line").setAttribute("points", line("depth"));
    $("rate-line").setAttribute("points", line("rate"));
  });
}

async function refreshDecisions() {
  const data = await api(`/v1/decisions?after=${lastDecision}`);
  const list = $("decisions");
  if (data.latest < lastDecision) {
    // herald restarted: its numbering starts again.
    lastDecision = 0;
    list.replaceChildren();
    return;
  }
  for (const d of data.decisions) {
    lastDecision = Math.max(lastDecision, d.seq);
    const li = document.createElement("li");
    li.className = d.level;
    const fields = Object.entries(d.fields).map(([k, v]) => `${k}=${v}`).join(" ");
    li.textContent = `${time(d.at)} ${d.level} ${d.event} ${fields}${d.message ? ` — ${d.message}` : ""}`;
    list.prepend(li);
  }
  while (list.children.length > 200) list.lastChild.remove();
}

function handle(error) {
  if (error instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    show(false);
    say("The token was refused; enter it again.");
  } else {
    say(`Error: ${error.message}`);
  }
}

let timer = null;
async function refresh() {
  try {
    const depth = await refreshEndpoints();
    await Promise.all([refreshSilences(), refreshDeliveries(), refreshWindows(), refreshDecisions(), plot(depth)]);
    say(`Updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    handle(error);
  }
}

function show(signedIn) {
  $("token-form").hidden = signedIn;
  $("console").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  clearInterval(timer);
  if (signedIn) {
    refresh();
    timer = setInterval(refresh, REFRESH_MS);
  } else {
    $("token").focus();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    show(true);
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    show(false);
  });
  $("silence-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createSilence();
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    cursor = null;
    refresh();
  });
  $("older").addEventListener("click", () => {
    cursor = nextCursor;
    refresh();
  });
  $("newest").addEventListener("click", () => {
    cursor = null;
    refresh();
  });
  $("replay").addEventListener("click", () => act(`/v1/deliveries/${selected}/replay`, `Delivery #${selected} queued again`, { requested_by: "console" }));
  $("close-detail").addEventListener("click", () => {
    selected = null;
    $("detail").hidden = true;
  });
  show(Boolean(token()));
});
