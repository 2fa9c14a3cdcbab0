// StreamRec's page: recommendations, popular lists, live poll results and the production model, read from
// the inference API (same origin); likes, ratings and votes posted to the ingest gateway (CORS). No build
// step, no dependencies.
"use strict";

const state = {
  domain: "movies",
  user: "1",
  window: "24h",
  poll: null,
  gatewayURL: "",
  gatewayKey: "",
  lastRecommended: new Set(),
  // Genres (movies) and categories (polls) a new user may state preferences for (from /v1/ui/config).
  groups: { movies: [], polls: [] },
};

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`);
  return body;
}

// MARK: - Posting events to the gateway

async function post(event) {
  if (!state.gatewayURL) { status("set the gateway URL (Gateway, bottom right)", true); return; }
  const body = { ...event, user_id: state.user, occurred_at: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") };
  const headers = { "Content-Type": "application/json" };
  if (state.gatewayKey) headers["X-API-Key"] = state.gatewayKey;
  try {
    const response = await fetch(`${state.gatewayURL}/v1/events`, { method: "POST", headers, body: JSON.stringify(body) });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) { status(`${event.type}: ${answer.error ? answer.error.code + " (" + (answer.error.field || "") + ")" : response.status}`, true); return; }
    status(`${event.type} accepted (${response.status}); watching for the change…`);
    watchRecommendations();
    setTimeout(refresh, 250);
  } catch (error) {
    status(`gateway unreachable: ${error.message}`, true);
  }
}

// `from`: { recommendation_id, position } when the item was shown in a recommendation list (the answer's id
// and the item's place in it, 1 = first), so the event is attributed to that answer (docs/events.md,
// Attribution); {} for other lists.
const like = (item, from = {}) => post({ type: "movie.like", item_id: item, ...from });
const dislike = (item, from = {}) => post({ type: "movie.dislike", item_id: item, ...from });
const rate = (item, value, from = {}) => post({ type: "movie.rating", item_id: item, value: Number(value), ...from });
const vote = (poll, option, from = {}) => { state.poll = poll; return post({ type: "poll.vote", poll_id: poll, option_id: option, ...from }); };
const share = (poll, from = {}) => post({ type: "poll.share", poll_id: poll, ...from });

// MARK: - Rendering

function describe(item) {
  if (state.domain === "movies") {
    const meta = [item.year, (item.genres || []).join(", ")].filter(Boolean).join(" · ");
    return [element("div", { class: "title" }, item.title || `movie ${item.item_id}`), meta ? element("div", { class: "meta" }, meta) : null];
  }
  return [element("div", { class: "title" }, item.question || `poll ${item.item_id}`), element("div", { class: "meta" }, item.category || "")];
}

function actions(item, from) {
  if (state.domain === "movies") {
    const rating = element("select", { "aria-label": "rate", onchange: (e) => e.target.value && rate(item.item_id, e.target.value, from) },
      element("option", { value: "" }, "rate…"), ...[5, 4, 3, 2, 1].map((v) => element("option", { value: String(v) }, `${v} ★`)));
    return element("div", { class: "actions" },
      element("button", { class: "like", "data-action": "like", onclick: () => like(item.item_id, from) }, "Like"),
      element("button", { class: "dislike", "data-action": "dislike", onclick: () => dislike(item.item_id, from) }, "Dislike"),
      rating);
  }
  return element("div", { class: "actions" },
    ...(item.options || []).map((option) => element("button", { "data-action": "vote", onclick: () => vote(item.item_id, option.id, from) }, option.text)),
    element("button", { "data-action": "share", onclick: () => share(item.item_id, from) }, "Share"),
    element("button", { "data-action": "results", onclick: () => { state.poll = item.item_id; refresh(); } }, "Results"));
}

// `recommendationID`: the answer's id when the list is a recommendation answer (its events are attributed).
function renderList(list, items, withActions, previous, recommendationID) {
  list.replaceChildren(...items.map((item, index) => {
    const from = recommendationID ? { recommendation_id: recommendationID, position: index + 1 } : {};
    const node = element("li", { "data-item-id": item.item_id }, ...describe(item),
      item.reason ? element("div", { class: "reason" }, item.reason.text) : null,
      withActions ? actions(item, from) : null);
    if (previous && previous.size && !previous.has(item.item_id)) node.classList.add("fresh");
    return node;
  }));
}

const hints = {
  personalised: "Known to the model, updated with your latest events.",
  "fold-in": "New to the model: folded in from your events so far (and what you said you like, less with each event).",
  preferences: "From what you said you like; your likes and votes take over as they come.",
  popular: "Nothing to personalise from yet: what is popular now. Like something!",
};

// Every answer is an impression that online experiments count, so the list is asked for when it can have
// changed — the user, domain or preferences changed, or for 5 s after this page posted an event — not on every
// refresh of the rest of the page.
function watchRecommendations() {
  state.recommendationsDue = true;
  state.watchUntil = Date.now() + 5000;
}

async function refreshRecommendations() {
  if (!state.recommendationsDue && Date.now() > (state.watchUntil || 0)) return;
  state.recommendationsDue = false;
  const body = await api(`/v1/users/${encodeURIComponent(state.user)}/recommendations?domain=${state.domain}&k=10&reasons=true`);
  $("strategy").textContent = body.strategy + (body.degraded ? " (degraded)" : "");
  $("strategy-hint").textContent = hints[body.strategy] || "";
  state.variant = body.variant;
  $("experiment-variant").textContent = body.variant ? `you: ${body.variant}` : "";
  const ids = new Set(body.items.map((item) => item.item_id));
  renderList($("recommendations"), body.items, true, state.lastRecommended, body.recommendation_id);
  // The change the page was watching for has shown: stop asking.
  if (state.lastRecommended.size > 0 && [...ids].some((id) => !state.lastRecommended.has(id))) state.watchUntil = 0;
  state.lastRecommended = ids;
  // Stating preferences is offered while there is nothing else to personalise from.
  const offer = body.strategy === "popular" && state.groups[state.domain].length > 0;
  if (offer && $("preferences-form").hidden) renderPreferenceForm();
  $("preferences-form").hidden = !offer;
}

function renderPreferenceForm() {
  $("preference-groups").replaceChildren(...state.groups[state.domain].map((group) =>
    element("label", { class: "group" }, element("input", { type: "checkbox", value: group }), ` ${group}`)));
}

async function savePreferences(event) {
  event.preventDefault();
  const chosen = [...document.querySelectorAll("#preference-groups input:checked")].map((input) => input.value);
  if (!chosen.length) { status("pick at least one", true); return; }
  const member = state.domain === "movies" ? "genres" : "categories";
  const response = await fetch(`/v1/users/${encodeURIComponent(state.user)}/preferences?domain=${state.domain}`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ [member]: Object.fromEntries(chosen.map((g) => [g, 1])) }),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) { status(answer.error ? `${answer.error.code} (${answer.error.field || ""})` : `HTTP ${response.status}`, true); return; }
  status(`preferences saved: ${chosen.join(", ")}`);
  $("preferences-form").hidden = true;
  state.recommendationsDue = true;
  refresh();
}

async function refreshPopular() {
  // "trending" is not a window: items rising now, the last hour's rate against the last 24 h's.
  const body = state.window === "trending"
    ? await api(`/v1/trending?domain=${state.domain}&k=10`)
    : await api(`/v1/popular?domain=${state.domain}&window=${state.window}&k=10`);
  const items = body.items;
  if (!items.length) { $("popular").replaceChildren(element("li", { class: "hint" }, "No events in this window yet.")); return; }
  renderList($("popular"), items, state.domain === "polls", null);
}

async function refreshPoll() {
  const panel = $("poll-results-panel");
  panel.hidden = state.domain !== "polls";
  if (state.domain !== "polls" || !state.poll) return;
  const body = await api(`/v1/polls/${encodeURIComponent(state.poll)}/results`);
  const total = Math.max(1, body.total_voters);
  $("poll-results").replaceChildren(
    element("div", { class: "title" }, body.question || body.poll_id),
    element("div", { class: "meta" }, `${body.total_voters} voters`),
    ...body.options.map((option) => element("div", {},
      element("div", { class: "meta" }, `${option.text}: ${option.votes}`),
      element("div", { class: "bar" }, element("span", { style: `width:${(100 * option.votes) / total}%` })))));
}

async function refreshModel() {
  const body = await api("/v1/models");
  const model = body.models.find((m) => m.domain === state.domain);
  if (!model) { $("model").replaceChildren(element("dt", {}, "none"), element("dd", {}, "popular only until the trainer promotes one")); return; }
  const rows = [["version", model.version], ["model", model.top_n_model || model.kind], ["trained", model.trained_at], ["rows", model.data.rows]];
  for (const key of ["ndcg@10", "recall@10", "popularity.ndcg@10", "rmse"]) {
    if (model.metrics[key] != null) rows.push([key, Number(model.metrics[key]).toFixed(4)]);
  }
  $("model").replaceChildren(...rows.flatMap(([k, v]) => [element("dt", {}, k), element("dd", {}, String(v))]));
}

// The running experiment of this domain and its live figures (the processor's outcome counters). Read every
// fifth refresh: GET /v1/experiments reads PostgreSQL.
let experimentTicks = 0;
async function refreshExperiment() {
  if (experimentTicks++ % 5 !== 0) return;
  const body = await api("/v1/experiments").catch(() => ({ experiments: [] }));
  const experiment = (body.experiments || []).find((e) => e.running && e.domain === state.domain);
  $("experiment-panel").hidden = !experiment;
  if (!experiment) return;
  $("experiment-arms").textContent = `${experiment.id}: control ${experiment.control} against challenger ${experiment.challenger} (${Math.round(experiment.challenger_share * 100)} % of users)`;
  const outcomes = experiment.outcomes;
  if (!outcomes) { $("experiment-figures").replaceChildren(); $("experiment-verdict").textContent = "figures unavailable (Redis)"; return; }
  const percent = (x) => (x == null ? "–" : `${(100 * x).toFixed(1)} %`);
  const header = element("tr", {}, element("th", {}, ""), element("th", {}, "users"), element("th", {}, "with a positive"), element("th", {}, "95 % interval"), element("th", {}, "answers"));
  const rows = ["control", "challenger"].map((name) => {
    const v = outcomes.variants[name];
    return element("tr", {}, element("th", {}, name), element("td", {}, String(v.users)), element("td", {}, percent(v.user_positive_rate)),
      element("td", {}, `${percent(v.user_positive_rate_ci95[0])}–${percent(v.user_positive_rate_ci95[1])}`), element("td", {}, String(v.impressions)));
  });
  $("experiment-figures").replaceChildren(header, ...rows);
  const c = outcomes.comparison;
  $("experiment-verdict").textContent = c.p_value == null ? "no answers yet"
    : `p = ${Number(c.p_value).toPrecision(2)}: ${c.challenger_wins ? "the challenger wins" : "no significant win for the challenger yet"} (alpha ${c.alpha})`;
}

let refreshing = false;
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    await Promise.all([refreshRecommendations(), refreshPopular(), refreshPoll(), refreshModel(), refreshExperiment()]);
    if (!$("status").classList.contains("error")) $("status").dataset.updated = new Date().toISOString();
  } catch (error) {
    status(error.message, true);
  } finally {
    refreshing = false;
  }
}

// MARK: - Controls

function applyDomain(domain) {
  state.domain = domain;
  experimentTicks = 0;
  $("preferences-form").hidden = true;
  state.lastRecommended = new Set();
  state.recommendationsDue = true;
  for (const button of document.querySelectorAll("#domains button")) button.classList.toggle("active", button.dataset.domain === domain);
}

function selectDomain(domain) {
  applyDomain(domain);
  refresh();
}

function selectUser(user) {
  state.user = user.trim() || "1";
  $("preferences-form").hidden = true;
  state.lastRecommended = new Set();
  state.recommendationsDue = true;
  $("user").value = state.user;
  $("user-label").textContent = state.user;
  refresh();
}

async function start() {
  const params = new URLSearchParams(location.search);
  const config = await api("/v1/ui/config").catch(() => ({}));
  state.gatewayURL = localStorage.getItem("gatewayURL") || config.gateway_url || "";
  state.gatewayKey = localStorage.getItem("gatewayKey") || config.gateway_api_key || "";
  if (config.groups) state.groups = config.groups;
  $("preferences-form").addEventListener("submit", savePreferences);
  $("gateway-url").value = state.gatewayURL;
  $("gateway-key").value = state.gatewayKey;
  $("gateway-url").addEventListener("change", (e) => { state.gatewayURL = e.target.value.replace(/\/$/, ""); localStorage.setItem("gatewayURL", state.gatewayURL); });
  $("gateway-key").addEventListener("change", (e) => { state.gatewayKey = e.target.value; localStorage.setItem("gatewayKey", state.gatewayKey); });
  for (const button of document.querySelectorAll("#domains button")) button.addEventListener("click", () => selectDomain(button.dataset.domain));
  $("user-form").addEventListener("submit", (e) => { e.preventDefault(); selectUser($("user").value); });
  $("user").addEventListener("change", (e) => selectUser(e.target.value));
  $("new-user").addEventListener("click", () => selectUser(`web-${Math.random().toString(36).slice(2, 10)}`));
  $("window").addEventListener("change", (e) => { state.window = e.target.value; refresh(); });
  applyDomain(params.get("domain") === "polls" ? "polls" : "movies");
  selectUser(params.get("user") || state.user);
  setInterval(refresh, 1000);
}

start();
