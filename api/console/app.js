// The operator console: plain DOM and fetch over the JSON API, no build step.
//
// The bearer token lives in sessionStorage (never in the URL) and goes out as an
// Authorization header. Every string that comes from the server is put on the page with
// textContent: log lines, names and reasons are untrusted.

const TOKEN_KEY = "aiops-console-token";
const $ = (id) => document.getElementById(id);

let currentIncident = null;
let incidentCursor = null;
let serverNow = null; // the server's clock, as GET /controls last said

// --- small helpers -------------------------------------------------------------------------

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** Epoch seconds as ``YYYY-MM-DD hh:mm:ss UTC``. */
function stamp(seconds) {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

function time(seconds) {
  if (seconds === null || seconds === undefined) return el("span", {}, "–");
  return el("time", { datetime: new Date(seconds * 1000).toISOString() }, stamp(seconds));
}

function targetText(target) {
  if (!target) return "";
  return target.namespace
    ? `${target.kind}/${target.namespace}/${target.name}`
    : `${target.kind}/${target.name}`;
}

function desiredText(desired) {
  if (!desired) return "";
  switch (desired.type) {
    case "replicas": return `to ${desired.replicas} replicas`;
    case "revision": return `to revision ${desired.revision}`;
    case "schedulable": return desired.unschedulable ? "unschedulable" : "schedulable";
    case "escalation": return `(${desired.reason})`;
    case "none": return "";
    default: return `(${desired.type})`;
  }
}

function actionText(request) {
  return [request.kind, targetText(request.target), desiredText(request.desired)]
    .filter(Boolean).join(" ");
}

function score(value) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(2);
}

// --- errors and status ---------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, reason) {
    super(`${status}: ${reason}`);
    this.status = status;
    this.reason = reason;
  }
}

/** FastAPI's ``detail``: a reason, or (422) a list of {loc, msg} naming the fields. */
function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((item) => {
      const where = (item.loc || []).filter((part) => part !== "body").join(".");
      return where ? `${where}: ${item.msg}` : String(item.msg);
    }).join("; ");
  }
  return JSON.stringify(detail);
}

function showError(error) {
  const box = $("error");
  const text = error instanceof ApiError
    ? `Error ${error.status}: ${error.reason}`
    : `Error: ${error.message || error}`;
  box.textContent = text;
  box.hidden = false;
  if (error instanceof ApiError && error.status === 401) $("token").focus();
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function say(message) {
  $("status").textContent = message;
}

/** Runs ``work`` for a click: clears the last error, disables ``button`` meanwhile, shows
 * whatever goes wrong in the error area. */
async function act(button, work) {
  clearError();
  if (button) button.disabled = true;
  try {
    return await work();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// --- the API ---------------------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${token()}`, ...extra };
}

async function failure(response) {
  let reason = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.detail !== undefined) reason = describeDetail(body.detail);
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, reason);
}

async function api(method, path, body) {
  const init = {
    method,
    headers: headers({ Accept: "application/json" }),
    cache: "no-store",
    credentials: "omit",
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

const enc = encodeURIComponent;

// --- incidents -------------------------------------------------------------------------------

async function loadIncidents(more = false) {
  const params = new URLSearchParams({ limit: "50" });
  const state = $("incident-state").value;
  if (state) params.set("state", state);
  if (more && incidentCursor) params.set("cursor", incidentCursor);
  const page = await api("GET", `/incidents?${params}`);
  const body = $("incident-list").tBodies[0];
  if (!more) body.replaceChildren();
  for (const incident of page.items) body.append(incidentRow(incident));
  incidentCursor = page.next_cursor;
  $("incident-more").hidden = !incidentCursor;
  $("incident-empty").hidden = body.rows.length > 0;
}

function incidentRow(incident) {
  const open = el("button", { type: "button", class: "link", onclick: (event) => {
    act(event.currentTarget, () => openIncident(incident.id));
  } }, incident.id);
  const about = [...incident.services, ...incident.nodes.map((n) => `node ${n}`)].join(", ");
  return el("tr", { dataset: { incidentId: incident.id } },
    el("td", {}, open),
    el("td", {}, el("span", { class: `sev sev-${incident.severity}` }, incident.severity)),
    el("td", {}, about),
    el("td", {}, incident.state),
    el("td", {}, time(incident.opened_at)));
}

async function openIncident(id) {
  const detail = await api("GET", `/incidents/${enc(id)}`);
  renderIncident(detail);
  $("incident-detail").scrollIntoView({ block: "start" });
}

function fact(name, value) {
  return [el("dt", {}, name), el("dd", {}, value)];
}

function renderIncident(detail) {
  const incident = detail.incident;
  currentIncident = incident.id;
  $("incident-detail").hidden = false;
  $("incident-title").textContent = `Incident ${incident.id}`;
  $("incident-facts").replaceChildren(
    ...fact("State", incident.state),
    ...fact("Severity", incident.severity),
    ...fact("Namespace", incident.namespace || "–"),
    ...fact("Services", incident.services.join(", ") || "–"),
    ...fact("Nodes", incident.nodes.join(", ") || "–"),
    ...fact("Opened", time(incident.opened_at)),
    ...fact("Updated", time(incident.updated_at)),
    ...fact("Resolved", time(incident.resolved_at)),
    ...fact("Acknowledged by", detail.acknowledged_by || "–"),
  );
  $("incident-timeline").replaceChildren(...detail.timeline.map((entry) => el("li", {},
    time(entry.at), " ", el("span", { class: "badge" }, entry.kind), " ", entry.summary)));
  $("incident-signals").replaceChildren(...listOr(detail.signals.map(signalItem), "No signals."));
  $("incident-decisions").replaceChildren(
    ...listOr(detail.decisions.map(decisionItem), "No decisions."));
  $("incident-actions").replaceChildren(...listOr(detail.actions.map(actionItem), "No actions."));
}

function listOr(items, empty) {
  return items.length ? items : [el("li", { class: "muted" }, empty)];
}

function signalItem(signal) {
  const where = signal.service || (signal.node ? `node ${signal.node}` : "");
  const evidence = signal.evidence.map((e) => `${e.name}=${e.value}`).join(", ");
  return el("li", {},
    el("span", { class: "badge" }, signal.kind), " ",
    `${signal.detector} ${signal.series}`, where ? ` on ${where}` : "",
    `, score ${score(signal.score)}, from `, time(signal.start),
    evidence ? el("div", { class: "muted" }, evidence) : null);
}

function decisionItem(decision) {
  const chosen = decision.choice === null || decision.choice === undefined
    ? null : decision.candidates[decision.choice];
  return el("li", {},
    `${decision.agent} (${decision.policy}), tier ${decision.tier}`,
    decision.model ? `, model ${decision.model}` : "",
    `, confidence ${score(decision.confidence)}, at `, time(decision.at),
    el("div", {}, chosen
      ? `Chose: ${actionText(chosen.action)}${chosen.expected_effect ? ` — ${chosen.expected_effect}` : ""}`
      : `No candidate chosen (of ${decision.candidates.length})`),
    decision.escalation_reason
      ? el("div", { class: "muted" }, `Escalated: ${decision.escalation_reason}`) : null);
}

function actionItem(view) {
  const action = view.action;
  const verdict = action.verdict
    ? `verdict ${action.verdict}${action.refused_by ? ` by rule ${action.refused_by}` : ""}`
    : "no verdict yet";
  const approvals = view.approvals.map((a) => a.decision
    ? `${a.decision} by ${a.decided_by || "the deadline"}${a.reason ? `: ${a.reason}` : ""}`
    : `awaiting approval until ${stamp(a.expires_at)}`);
  return el("li", {},
    el("strong", {}, actionText(action.request)), " ",
    el("span", { class: `badge status-${action.status}` }, action.status), ` ${verdict}`,
    action.verdict_reason ? `: ${action.verdict_reason}` : "",
    el("div", { class: "muted" }, `Reason: ${action.request.reason}`),
    action.error ? el("div", { class: "muted" }, `Error: ${action.error}`) : null,
    approvals.length ? el("div", {}, `Approval: ${approvals.join("; ")}`) : null);
}

async function moveIncident(move, button) {
  if (!currentIncident) return;
  await act(button, async () => {
    const reason = $("incident-reason").value;
    const detail = await api("POST", `/incidents/${enc(currentIncident)}/${move}`, { reason });
    renderIncident(detail);
    $("incident-reason").value = "";
    say(`Incident ${detail.incident.id}: ${move} done; now ${detail.incident.state}.`);
    await loadIncidents();
  });
}

// --- approvals -------------------------------------------------------------------------------

async function loadApprovals() {
  const views = await api("GET", "/approvals");
  const cards = [];
  for (const view of views) {
    for (const approval of view.approvals) {
      if (approval.decision === null || approval.decision === undefined) {
        cards.push(approvalCard(view.action, approval));
      }
    }
  }
  $("approval-list").replaceChildren(...cards);
  $("approvals-empty").hidden = cards.length > 0;
}

function approvalCard(action, approval) {
  const titleId = `approval-${approval.id}-title`;
  const reasonId = `approval-${approval.id}-reason`;
  const what = actionText(action.request);
  const decide = (verb) => (event) => act(event.currentTarget, async () => {
    const reason = $(reasonId).value;
    await api("POST", `/approvals/${enc(approval.id)}/${verb}`, { reason });
    say(`${verb === "approve" ? "Approved" : "Rejected"}: ${what}.`);
    await loadApprovals();
    if (currentIncident && currentIncident === action.request.incident_id) {
      await openIncident(currentIncident);
    }
  });
  const incidentId = action.request.incident_id;
  return el("li", { class: "card", "aria-labelledby": titleId, dataset: { approvalId: approval.id } },
    el("h3", { id: titleId }, what),
    el("p", {}, `Reason: ${action.request.reason}`),
    el("p", { class: "muted" }, `Asked by ${action.request.decided_by}`,
      incidentId ? [" for ", incidentLink(incidentId)] : null),
    el("p", {}, "Requested ", time(approval.requested_at), ", expires ", time(approval.expires_at)),
    el("label", { for: reasonId }, "Reason (optional)"),
    el("input", { id: reasonId, maxlength: "2000" }),
    el("div", { class: "row" },
      el("button", { type: "button", class: "approve", onclick: decide("approve") }, "Approve"),
      el("button", { type: "button", class: "reject", onclick: decide("reject") }, "Reject")));
}

function incidentLink(id, label = `incident ${id}`) {
  return el("a", { href: `#incident/${enc(id)}`, onclick: (event) => {
    event.preventDefault();
    act(null, () => openIncident(id));
  } }, label);
}

// --- controls --------------------------------------------------------------------------------

async function loadControls() {
  const view = await api("GET", "/controls");
  const state = view.state;
  serverNow = state.at;
  const parts = [];
  if (state.paused) parts.push("Everything is paused.");
  if (state.paused_namespaces.length) {
    parts.push(`Paused namespaces: ${state.paused_namespaces.join(", ")}.`);
  }
  if (state.dry_run) parts.push("Dry run is on.");
  if (state.silences.length) parts.push(`${state.silences.length} silence(s) in force.`);
  if (state.opt_outs.length) parts.push(`Opted out: ${state.opt_outs.join(", ")}.`);
  $("controls-state").textContent = parts.length ? parts.join(" ") : "Nothing is paused or silenced.";
  $("control-list").tBodies[0].replaceChildren(...view.controls.map(controlRow));
}

function controlScope(control) {
  if (control.kind === "pause") return control.namespace ? `namespace ${control.namespace}` : "everything";
  return control.target || control.namespace || "everything";
}

function controlRow(control) {
  const scope = controlScope(control);
  const kind = control.maintenance ? "maintenance window" : control.kind;
  const lift = el("button", { type: "button", "aria-label": `Lift ${kind} on ${scope}`,
    onclick: (event) => act(event.currentTarget, async () => {
      await api("DELETE", `/controls/${enc(control.id)}`);
      say(`Lifted ${kind} on ${scope}.`);
      await loadControls();
    }) }, "Lift");
  return el("tr", { dataset: { controlId: control.id } },
    el("td", {}, kind), el("td", {}, scope), el("td", {}, time(control.starts_at)),
    el("td", {}, control.ends_at === null ? "until lifted" : time(control.ends_at)),
    el("td", {}, control.created_by), el("td", {}, control.comment), el("td", {}, lift));
}

async function pause(button) {
  await act(button, async () => {
    const namespace = $("pause-namespace").value.trim() || null;
    await api("POST", "/controls/pause", { namespace, comment: $("pause-comment").value });
    say(namespace ? `Paused namespace ${namespace}.` : "Paused everything.");
    $("pause-comment").value = "";
    await loadControls();
  });
}

async function resume(button) {
  await act(button, async () => {
    const namespace = $("resume-namespace").value.trim() || null;
    const lifted = await api("POST", "/controls/resume", { namespace });
    const what = namespace ? `namespace ${namespace}` : "everything";
    say(lifted.length ? `Resumed ${what}.` : `${what} was not paused.`);
    await loadControls();
  });
}

async function silence(button) {
  await act(button, async () => {
    await loadControls(); // the server's clock: "in N minutes" is counted from its now
    const minutes = Number($("silence-minutes").value);
    const target = $("silence-target").value.trim();
    await api("POST", "/controls/silences", {
      target, ends_at: serverNow + minutes * 60, comment: $("silence-comment").value,
    });
    say(`Silenced ${target} for ${minutes} minutes.`);
    await loadControls();
  });
}

// --- chat ------------------------------------------------------------------------------------

/** One server-sent event from a block of lines (``event:`` and ``data:`` fields). */
function parseEvent(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  const raw = data.join("\n");
  try {
    return { type, data: JSON.parse(raw) };
  } catch {
    return { type, data: raw };
  }
}

/** Yields the events of a text/event-stream body as its bytes arrive. */
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let carry = ""; // a trailing "\r" may be half of a "\r\n"
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const raw = carry + value;
    carry = raw.endsWith("\r") ? "\r" : "";
    buffer += raw.slice(0, raw.length - carry.length).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (block.trim()) yield parseEvent(block);
    }
  }
  if (buffer.trim()) yield parseEvent(buffer);
}

function textOf(data) {
  if (typeof data === "string") return data;
  if (!data || typeof data !== "object") return "";
  return String(data.text ?? data.delta ?? data.content ?? "");
}

/** A ``step`` event's data (``{step, ...details}``) as one short line. */
function stepText(data) {
  if (typeof data === "string") return data;
  const { step, ...details } = data || {};
  const parts = Object.entries(details)
    .filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${k.replaceAll("_", " ")} ${
      Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : v}`);
  const text = `${step ?? "step"}${parts.length ? `: ${parts.join("; ")}` : ""}`;
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

const CITATION = /\[(incident|action|decision|signal|control|metric):([^\]\s]+)\]/g;
const INCIDENT_ID = /^[A-Za-z0-9_-]+$/;

/** A citation mark: ``[incident:<id>]`` as a link that opens that incident, others as text. */
function citation(kind, id, label) {
  if (kind === "incident" && INCIDENT_ID.test(id)) return incidentLink(id, label);
  return el("span", { class: "cite" }, label || `${kind} ${id}`);
}

/** The answer so far, with its ``[kind:id]`` marks as citations. */
function renderAnswer(node, text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(CITATION)) {
    parts.push(text.slice(last, match.index), citation(match[1], match[2]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  node.replaceChildren(...parts.filter((p) => p !== ""));
}

/** A ``cite`` event's data: ``{kind, id}`` (a metric's also names its ``signal``). */
function citeItem(data) {
  if (!data || typeof data !== "object" || !data.kind || data.id === undefined) {
    return el("li", {}, typeof data === "string" ? data : JSON.stringify(data));
  }
  const id = String(data.id);
  const label = data.signal ? `${data.kind} ${id} (signal ${data.signal})` : `${data.kind} ${id}`;
  return el("li", {}, citation(String(data.kind), id, label));
}

async function ask(button) {
  const message = $("chat-message").value.trim();
  if (!message) return;
  clearError();
  const answerText = el("p", { class: "answer-text" });
  const steps = el("ul", { class: "steps muted" });
  const cites = el("ul", { class: "cites", "aria-label": "Citations" });
  const state = el("p", { class: "chat-state muted" }, "answering…");
  const answer = el("div", { class: "answer", "aria-busy": "true" },
    el("p", { class: "who" }, "Answer"), steps, answerText, cites, state);
  $("chat-log").append(el("div", { class: "question" },
    el("p", { class: "who" }, "You"), el("p", {}, message)), answer);
  $("chat-message").value = "";
  button.disabled = true;
  let text = "";
  let ended = "ended";
  try {
    const response = await fetch("/chat", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ message }),
      cache: "no-store",
      credentials: "omit",
    });
    if (!response.ok) throw await failure(response);
    for await (const event of events(response.body)) {
      if (event.type === "text") {
        text += textOf(event.data);
        renderAnswer(answerText, text);
      } else if (event.type === "step") {
        steps.append(el("li", {}, stepText(event.data)));
      } else if (event.type === "cite") {
        cites.append(citeItem(event.data));
      } else if (event.type === "done") {
        if (!ended.startsWith("failed")) {
          const status = event.data && event.data.status;
          ended = status && status !== "ok" ? `done (${status})` : "done";
        }
      } else if (event.type === "error") {
        const reason = typeof event.data === "string"
          ? event.data : describeDetail(event.data.detail ?? event.data.message ?? event.data);
        ended = `failed: ${reason}`;
        showError(new Error(`chat: ${reason}`));
      }
    }
  } catch (error) {
    ended = `failed: ${error.reason || error.message}`;
    showError(error);
  } finally {
    state.textContent = ended;
    answer.setAttribute("aria-busy", "false");
    button.disabled = false;
  }
}

// --- wiring ----------------------------------------------------------------------------------

/** Loads the sections one after another (a SQLite store has one writer: the token's first
 * use is written down), showing the first failure. */
async function loadAll() {
  let first = null;
  for (const load of [loadIncidents, loadApprovals, loadControls]) {
    try {
      await load();
    } catch (error) {
      first = first || error;
    }
  }
  if (first) showError(first);
}

function signedIn() {
  const has = Boolean(token());
  $("console").hidden = !has;
  $("who").textContent = has ? "Token set for this tab." : "No token.";
  return has;
}

function onSubmit(id, handler) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    handler(event.submitter || event.target.querySelector("button[type=submit]"));
  });
}

function openFromHash() {
  const match = /^#incident\/([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (match && token()) act(null, () => openIncident(match[1]));
}

function start() {
  onSubmit("token-form", async () => {
    const value = $("token").value.trim();
    $("token").value = "";
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    clearError();
    if (signedIn()) await loadAll();
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    currentIncident = null;
    $("incident-detail").hidden = true;
    signedIn();
  });
  onSubmit("incident-filter", (button) => act(button, () => loadIncidents()));
  $("incident-state").addEventListener("change", () => act(null, () => loadIncidents()));
  $("incident-more").addEventListener("click", (e) => act(e.currentTarget, () => loadIncidents(true)));
  $("incident-moves").addEventListener("submit", (event) => event.preventDefault());
  for (const button of $("incident-moves").querySelectorAll("button[data-move]")) {
    button.addEventListener("click", () => moveIncident(button.dataset.move, button));
  }
  $("approvals-refresh").addEventListener("click", (e) => act(e.currentTarget, loadApprovals));
  $("controls-refresh").addEventListener("click", (e) => act(e.currentTarget, loadControls));
  onSubmit("pause-form", pause);
  onSubmit("resume-form", resume);
  onSubmit("silence-form", silence);
  onSubmit("chat-form", ask);
  window.addEventListener("hashchange", openFromHash);
  if (signedIn()) loadAll().then(openFromHash);
}

start();
