// kontinue web UI: plain JavaScript over the JSON API under /api/v1.
// Every value from the server is put into the page as text (never as HTML).
"use strict";

const PHASES = ["Pending", "Executing", "Suspended", "Backoff", "Completed", "Failed", "Canceled", "Skipped"];
const TERMINAL = new Set(["Completed", "Failed", "Canceled", "Skipped"]);
const ICONS = {
  execution: "\u25B6", script: "\u276F", job: "\u2699", pod: "\u2699", sleep: "\u23F1",
  approval: "\u2714", store: "\u25A3", poll: "\u21BB",
};
const KINDS = {
  execution: "execution", script: "script", job: "job", pod: "pod", sleep: "sleep",
  approval: "approval gate", store: "stored value", poll: "poll",
};

const state = {
  info: null,
  namespace: new URLSearchParams(location.search).get("namespace") || localStorage.getItem("kontinue.ns") || "default",
  view: null,          // {refresh(change), close()}
  events: null,
};

// -- small helpers ----------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style") el.style.cssText = value;  // CSSOM: allowed by the page's CSP
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function api(path, options = {}) {
  const url = new URL(path, location.origin);
  if (!url.searchParams.has("namespace") && !options.noNamespace) url.searchParams.set("namespace", state.namespace);
  const init = { headers: { Accept: "application/json" }, credentials: "same-origin", signal: options.signal };
  if (options.body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  return fetch(url, init).then(async (response) => {
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) data = await response.json();
    else data = { message: await response.text() };
    if (response.status === 401) showSignIn(data.message);
    if (!response.ok) {
      const error = new Error(data.message || `${response.status} ${response.statusText}`);
      error.status = response.status;
      error.problems = data.problems || [];
      throw error;
    }
    return data;
  });
}

function since(iso, now = Date.now()) {
  if (!iso) return "";
  return span(Math.max(0, (now - Date.parse(iso)) / 1000));
}

function span(seconds) {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
  if (m < 60) return s ? `${m}m${s}s` : `${m}m`;
  const hr = Math.floor(m / 60), mm = m % 60;
  if (hr < 24) return mm ? `${hr}h${mm}m` : `${hr}h`;
  const d = Math.floor(hr / 24), hh = hr % 24;
  return hh ? `${d}d${hh}h` : `${d}d`;
}

function duration(start, end) {
  if (!start) return "";
  const stop = end ? Date.parse(end) : Date.now();
  return span(Math.max(0, (stop - Date.parse(start)) / 1000));
}

function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function timeTag(iso, text) {
  return iso ? h("time", { datetime: iso, title: when(iso) }, text) : "";
}

function phaseBadge(phase) {
  return h("span", { class: `phase ${phase}` }, phase);
}

function progressBar(progress) {
  if (!progress || !progress.max) return "";
  const pct = Math.max(0, Math.min(100, (100 * progress.current) / progress.max));
  return h("div", { class: "progress", title: `${progress.current} of ${progress.max}` },
    h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": progress.max, "aria-valuenow": progress.current },
      h("span", { style: `width:${pct}%` })),
    h("span", { class: "frac" }, `${progress.current}/${progress.max}`));
}

function jsonBlock(value) {
  return h("pre", { class: "json" }, value === undefined ? "" : JSON.stringify(value, null, 2));
}

function toYaml(value, indent = "") {
  const pad = indent + "  ";
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value.map((item) => {
      const inner = toYaml(item, pad);
      return `\n${indent}- ${typeof item === "object" && item !== null && !Array.isArray(item) ? inner.replace(/^\n\s*/, "") : inner}`;
    }).join("");
  }
  if (typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    return keys.map((key) => {
      const item = value[key];
      const inner = toYaml(item, pad);
      const block = typeof item === "object" && item !== null && (Array.isArray(item) ? item.length : Object.keys(item).length);
      return `\n${indent}${key}:${block ? "" : " "}${inner}`;
    }).join("");
  }
  if (typeof value === "string") {
    if (value.includes("\n")) return "|\n" + value.replace(/\n$/, "").split("\n").map((l) => pad + l).join("\n");
    if (/^[\w./@-][\w ./@:,()-]*$/.test(value) && !/^(true|false|null|yes|no|[\d.]+)$/i.test(value) && !value.endsWith(" ")) return value;
    return JSON.stringify(value);
  }
  return String(value);
}

function toast(message, isError = false) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = isError ? "toast error" : "toast";
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, isError ? 7000 : 3500);
}

function confirmAction(title, text, okLabel, danger) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const ok = document.getElementById("confirm-ok");
  ok.textContent = okLabel;
  ok.className = danger ? "button primary danger-fill" : "button primary";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    ok.focus();
  });
}

function canWrite() {
  return Boolean(state.info && state.info.canWrite);
}

// -- actions ----------------------------------------------------------------------------

const ACTIONS = {
  resume: { label: "Resume", title: "Resume", ok: "Resume", text: (n, what) => `Resume ${what || n}? An approval gate is approved and a sleep ends now.` },
  cancel: { label: "Cancel", title: "Cancel execution", ok: "Cancel execution", danger: true, text: (n) => `Cancel ${n} and everything it started? Running steps are stopped.` },
  retry: { label: "Retry", title: "Retry", ok: "Retry", text: (n) => `Start a new attempt of ${n}? Finished steps are kept and not run again.` },
  skip: { label: "Skip", title: "Skip", ok: "Skip", danger: true, text: (n) => `Skip ${n}? It ends without a result and its parent goes on as if it had completed.` },
  resubmit: { label: "Resubmit", title: "Resubmit", ok: "Resubmit", text: (n) => `Start a new Execution with the same function and arguments as ${n}?` },
};

function allowedActions(phase, resumable = false) {
  const out = [];
  if (phase === "Suspended" && resumable) out.push("resume");
  if (!TERMINAL.has(phase)) out.push("cancel");
  if (phase === "Failed" || phase === "Canceled") out.push("retry");
  if (phase !== "Completed" && phase !== "Skipped") out.push("skip");
  out.push("resubmit");
  return out;
}

async function runAction(action, name, namespace, extra = {}) {
  const spec = ACTIONS[action];
  const ok = await confirmAction(spec.title, spec.text(name, extra.what), spec.ok, spec.danger);
  if (!ok) return null;
  try {
    const body = extra.suspension ? { suspension: extra.suspension } : {};
    const result = await api(`/api/v1/executions/${encodeURIComponent(name)}/${action}?namespace=${encodeURIComponent(namespace)}`, { body });
    const outcome = {
      resume: () => `Resumed ${(result.resumed || []).join(", ")}`,
      cancel: () => `Canceled ${(result.canceled || []).join(", ")}`,
      retry: () => `${name} will run a new attempt`,
      skip: () => `Skipped ${name}`,
      resubmit: () => `Started ${result.execution.name}`,
    }[action]();
    toast(outcome);
    if (action === "resubmit") navigate(execPath(result.execution.namespace, result.execution.name));
    return result;
  } catch (error) {
    toast(`${spec.title} failed: ${error.message}`, true);
    return null;
  }
}

function actionButtons(phase, name, namespace, resumable = false, compact = false) {
  if (!canWrite()) return [];
  return allowedActions(phase, resumable).map((action) => h("button", {
    class: `button ${compact ? "small" : ""} ${ACTIONS[action].danger ? "danger" : ""} ${action === "resume" ? "primary" : ""}`,
    "data-action": action,
    onclick: () => runAction(action, name, namespace),
  }, ACTIONS[action].label));
}

// -- routing ----------------------------------------------------------------------------

function execPath(namespace, name) {
  return `/executions/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

function navigate(path) {
  history.pushState(null, "", path);
  route();
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", () => route());

function route() {
  if (state.view) state.view.close();
  state.view = null;
  const main = document.getElementById("main");
  main.replaceChildren();
  const path = location.pathname;
  let nav = "list";
  if (path.startsWith("/executions/")) {
    const [, , ns, name] = path.split("/");
    state.view = detailView(main, decodeURIComponent(ns), decodeURIComponent(name || ""));
    nav = "";
  } else if (path === "/new") {
    state.view = newView(main);
    nav = "new";
  } else if (path === "/functions") {
    state.view = functionsView(main);
    nav = "functions";
  } else if (path === "/schedules") {
    state.view = schedulesView(main);
    nav = "schedules";
  } else {
    state.view = listView(main);
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

// -- live updates -----------------------------------------------------------------------

function connectEvents() {
  if (state.events) state.events.close();
  const live = document.getElementById("live");
  const source = new EventSource(`/api/v1/events?namespace=${encodeURIComponent(state.namespace)}`);
  state.events = source;
  source.onopen = () => { live.classList.add("on"); live.title = "Live: changes appear as they happen"; };
  source.onerror = () => { live.classList.remove("on"); live.title = "Reconnecting to live updates"; };
  source.addEventListener("change", (event) => {
    const change = JSON.parse(event.data);
    if (state.view && state.view.refresh) state.view.refresh(change);
  });
  source.addEventListener("resync", () => { if (state.view && state.view.refresh) state.view.refresh(null); });
}

// `fn` one call at a time: a call made while one runs runs once more after it
function oneAtATime(fn) {
  let running = false, again = false;
  const run = async () => {
    if (running) { again = true; return; }
    running = true;
    try {
      await fn();
    } finally {
      running = false;
      if (again) { again = false; run(); }
    }
  };
  return run;
}

function debounced(fn, wait = 200) {
  let timer = null;
  return () => { clearTimeout(timer); timer = setTimeout(fn, wait); };
}

// -- list -------------------------------------------------------------------------------

function listView(main) {
  const params = new URLSearchParams(location.search);
  const filters = {
    search: params.get("search") || "",
    phase: params.get("phase") || "",
    function: params.get("function") || "",
    selector: params.get("selector") || "",
    children: params.get("children") === "1",
  };
  const pages = [null];  // continue tokens of the pages seen, for going back
  let page = 0;
  const controller = new AbortController();

  const search = h("input", { type: "search", class: "search", placeholder: "Search by name   ( / )", value: filters.search, "aria-label": "Search by name" });
  const fn = h("input", { class: "grow", placeholder: "Function or pipeline", value: filters.function, "aria-label": "Function or pipeline", list: "function-names" });
  const selector = h("input", { class: "grow", placeholder: "Labels, e.g. team=payments", value: filters.selector, "aria-label": "Label selector" });
  const children = h("input", { type: "checkbox", checked: filters.children });
  const names = h("datalist", { id: "function-names" });
  const chips = h("div", { class: "chips", role: "group", "aria-label": "Phase" });
  const body = h("tbody");
  const summary = h("span", { class: "muted small" });
  const newer = h("button", { class: "button small", onclick: () => { page -= 1; load(); } }, "\u2190 Newer");
  const older = h("button", { class: "button small", onclick: () => { page += 1; load(); } }, "Older \u2192");

  main.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Executions"), h("div", { class: "subtitle" }, `Namespace ${state.namespace}, newest first`)),
      canWrite() ? h("a", { class: "button primary", href: "/new", "data-link": true }, "New Execution") : ""),
    h("div", { class: "panel filters" }, search, fn, selector, h("label", { class: "check" }, children, "Show child executions"), names),
    chips,
    h("div", { class: "panel" },
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["Name", "Function", "Phase", "Progress", "Message", "Age", "Duration"].map((c) => h("th", { scope: "col" }, c)))),
        body),
      h("div", { class: "pager" }, summary, h("div", { class: "actions" }, newer, older))));

  const apply = () => {
    filters.search = search.value.trim();
    filters.function = fn.value.trim();
    filters.selector = selector.value.trim();
    filters.children = children.checked;
    const next = new URLSearchParams();
    for (const key of ["search", "phase", "function", "selector"]) if (filters[key]) next.set(key, filters[key]);
    if (filters.children) next.set("children", "1");
    history.replaceState(null, "", `/${next.toString() ? "?" + next : ""}`);
    pages.length = 1; page = 0;
    load();
  };
  const typed = debounced(apply, 250);
  search.addEventListener("input", typed);
  fn.addEventListener("input", typed);
  selector.addEventListener("change", apply);
  children.addEventListener("change", apply);
  const slash = (event) => {
    if (event.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
      event.preventDefault();
      search.focus();
    }
  };
  document.addEventListener("keydown", slash);

  api("/api/v1/functions", { signal: controller.signal }).then((data) => {
    names.replaceChildren(...data.items.filter((f) => !f.builtin).map((f) => h("option", { value: f.name })));
  }).catch(() => {});

  function renderChips(counts, total) {
    const all = Object.values(counts).reduce((a, b) => a + b, 0);
    const chip = (value, label, count) => h("button", {
      class: "chip", "aria-pressed": String(filters.phase === value), "data-phase": value || "all",
      onclick: () => { filters.phase = filters.phase === value ? "" : value; apply(); },
    }, value ? phaseBadge(label) : label, h("span", { class: "count" }, String(count)));
    chips.replaceChildren(chip("", "All", all), ...PHASES.filter((p) => counts[p] || filters.phase === p).map((p) => chip(p, p, counts[p] || 0)));
    void total;
  }

  function row(item) {
    const title = item.displayName && item.displayName !== item.name ? item.displayName : "";
    const what = item.pipeline ? `pipeline ${item.pipeline}` : item.function;
    return h("tr", { "data-name": item.name },
      h("td", { class: "name" },
        h("a", { href: execPath(item.namespace, item.name), "data-link": true }, item.name),
        title ? h("span", { class: "sub" }, title) : "",
        item.parent ? h("span", { class: "sub" }, `child of ${item.parent}`) : ""),
      h("td", { class: "fn mono" }, what),
      h("td", { class: "ph" }, phaseBadge(item.phase)),
      h("td", { class: "prog" }, progressBar(item.progress)),
      h("td", { class: "msg-cell" }, h("span", { class: "msg", title: item.message || "" }, item.message || "")),
      h("td", { class: "age num" }, timeTag(item.created, since(item.created))),
      h("td", { class: "dur num" }, duration(item.started, item.finished)));
  }

  const load = oneAtATime(async () => {
    const query = new URLSearchParams({ limit: "50" });
    if (filters.search) query.set("search", filters.search);
    if (filters.phase) query.set("phase", filters.phase);
    if (filters.function) query.set("function", filters.function);
    if (filters.selector) query.set("selector", filters.selector);
    if (!filters.children) query.set("toplevel", "true");
    if (pages[page]) query.set("continue", pages[page]);
    try {
      const data = await api(`/api/v1/executions?${query}`, { signal: controller.signal });
      pages[page + 1] = data.continue;
      renderChips(data.phases, data.total);
      body.replaceChildren(...(data.items.length ? data.items.map(row) : [
        h("tr", {}, h("td", { colspan: 7, class: "empty" }, data.total || page ? "No more executions." : emptyText()))]));
      const first = page * 50 + (data.items.length ? 1 : 0);
      summary.textContent = `${first}\u2013${page * 50 + data.items.length} of ${data.total}`;
      newer.disabled = page === 0;
      older.disabled = !data.continue;
    } catch (error) {
      if (error.name !== "AbortError") body.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "empty" }, error.message)));
    }
  });

  function emptyText() {
    if (filters.search || filters.phase || filters.function || filters.selector) return "No execution matches these filters.";
    return canWrite() ? "No executions yet. Start one with New Execution." : "No executions yet.";
  }

  const refresh = debounced(load, 300);
  const ticker = setInterval(() => {
    for (const t of body.querySelectorAll("td.age time")) t.textContent = since(t.getAttribute("datetime"));
  }, 15000);
  load();
  return {
    refresh: (change) => { if (!change || change.kind === "Execution") refresh(); },
    close: () => { controller.abort(); clearInterval(ticker); document.removeEventListener("keydown", slash); },
  };
}

// -- detail -----------------------------------------------------------------------------

function detailView(main, namespace, name) {
  const controller = new AbortController();
  const followers = new Map();   // step key -> {abort, pre}
  const open = new Set();        // step keys whose logs are shown
  let root = null;
  let tab = "arguments";
  const head = h("div", { class: "page-head" });
  const callouts = h("div");
  const facts = h("dl", { class: "facts" });
  const treeBox = h("div");
  const side = h("div");
  main.append(
    h("div", { class: "muted small", style: "margin-bottom:8px" }, h("a", { href: "/", "data-link": true }, "\u2190 Executions")),
    head, callouts, facts,
    h("div", { class: "columns" },
      h("section", { class: "panel section", "aria-label": "Steps" }, h("h2", {}, "Steps"), treeBox),
      side));

  async function load() {
    try {
      const [ex, tree] = await Promise.all([
        api(`/api/v1/executions/${encodeURIComponent(name)}?namespace=${encodeURIComponent(namespace)}`, { signal: controller.signal }),
        api(`/api/v1/executions/${encodeURIComponent(name)}/tree?namespace=${encodeURIComponent(namespace)}`, { signal: controller.signal }),
      ]);
      root = ex.root;
      render(ex, tree);
    } catch (error) {
      if (error.name === "AbortError") return;
      head.replaceChildren(h("h1", {}, name));
      callouts.replaceChildren(h("div", { class: "callout error" }, h("div", { class: "title" }, "Cannot show this execution"), error.message));
    }
  }

  function render(ex, tree) {
    document.title = `${ex.name} \u00B7 kontinue`;
    const what = ex.pipeline ? `pipeline ${ex.pipeline}` : `function ${ex.function}`;
    head.replaceChildren(
      h("div", {},
        h("div", { style: "display:flex;align-items:center;gap:10px;flex-wrap:wrap" }, h("h1", {}, ex.name), phaseBadge(ex.phase)),
        h("div", { class: "subtitle" }, ex.displayName && ex.displayName !== ex.name ? `${ex.displayName} \u00B7 ` : "", what,
          ex.parent ? [" \u00B7 child of ", h("a", { href: execPath(ex.namespace, ex.parent), "data-link": true }, ex.parent)] : ""),
        ex.description ? h("div", { class: "muted small", style: "margin-top:4px" }, ex.description) : ""),
      h("div", { class: "actions" }, actionButtons(ex.phase, ex.name, ex.namespace, (tree.steps || []).some((s) => s.resumable))));
    const notes = [];
    if (ex.error && (ex.phase === "Failed" || ex.phase === "Backoff" || ex.phase === "Canceled")) {
      notes.push(h("div", { class: "callout error" },
        h("div", { class: "title" }, `${ex.error.kind}: ${ex.error.message}`),
        ex.phase === "Backoff" && ex.message ? h("div", { class: "small" }, ex.message) : "",
        ex.error.stackTrace ? h("details", {}, h("summary", {}, "Where it was raised"), h("pre", { class: "code" }, ex.error.stackTrace)) : ""));
    } else if (ex.message) {
      notes.push(h("div", { class: ex.phase === "Suspended" ? "callout wait" : "callout" }, ex.message));
    }
    callouts.replaceChildren(...notes);
    const fact = (label, value) => h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value || "\u2014"));
    facts.replaceChildren(
      fact("Namespace", ex.namespace),
      fact("Created", timeTag(ex.created, `${since(ex.created)} ago`)),
      fact("Duration", duration(ex.started, ex.finished) + (ex.finished || !ex.started ? "" : " so far")),
      ex.progress ? fact("Progress", progressBar(ex.progress)) : "",
      fact("Attempts", String(ex.attempts + (ex.started ? 1 : 0))),
      fact("Resumptions", String(ex.resumptions)),
      ex.worker ? fact("Worker", ex.worker) : "");
    treeBox.replaceChildren(h("ul", { class: "tree" }, stepNode(tree, true)));
    renderSide(ex);
  }

  function renderSide(ex) {
    const tabs = [["arguments", ex.pipeline ? "Params" : "Arguments", ex.arguments]];
    if (ex.result !== null && ex.result !== undefined) tabs.push(["result", "Result", ex.result]);
    if (ex.plan) tabs.push(["plan", "Plan (YAML)", ex.plan]);
    tabs.push(["manifest", "Manifest", ex.manifest]);
    if (!tabs.some((t) => t[0] === tab)) tab = tabs[0][0];
    const bar = h("div", { class: "tabs", role: "tablist" }, tabs.map(([key, label]) => h("button", {
      class: "tab", role: "tab", "aria-selected": String(key === tab), onclick: () => { tab = key; renderSide(ex); },
    }, label)));
    const current = tabs.find((t) => t[0] === tab);
    const content = tab === "plan" || tab === "manifest" ? h("pre", { class: "code" }, toYaml(current[2]).replace(/^\n/, "")) : jsonBlock(current[2]);
    side.replaceChildren(h("section", { class: "panel section", "aria-label": "Details" }, bar, content));
  }

  function stepKey(node, owner) {
    return `${owner}/${node.name}/${node.job || ""}`;
  }

  function stepNode(node, isRoot = false, owner = name) {
    if (node.type === "execution") return executionNode(node, isRoot);
    const key = stepKey(node, owner);
    const label = node.displayName || node.name;
    const meta = [];
    if (node.phase === "Waiting" && node.due) meta.push(h("span", {}, "due ", timeTag(node.due, when(node.due))));
    if (node.started) meta.push(h("span", {}, "started ", timeTag(node.started, `${since(node.started)} ago`)));
    if (node.finished && node.phase !== "Waiting") meta.push(h("span", {}, "took ", duration(node.started || node.finished, node.finished) || "0s"));
    if (node.phase === "Running" && node.started) meta.push(h("span", {}, "running for ", duration(node.started, null)));
    if (node.exitCode !== undefined && node.exitCode !== null) meta.push(h("span", {}, `exit code ${node.exitCode}`));
    if (node.resolvedBy) meta.push(h("span", {}, `resumed by ${node.resolvedBy}`));
    if (node.attempt) meta.push(h("span", {}, `attempt ${node.attempt + 1}`));
    const body = [];
    if (node.description) body.push(h("div", { class: "step-desc" }, node.description));
    if (node.message && node.phase !== "Succeeded") body.push(h("div", { class: "step-desc" }, node.message));
    if (node.error) body.push(h("div", { class: "error-text" }, `${node.error.kind || "Error"}: ${node.error.message}`));
    if (node.result !== undefined && node.result !== null && node.type === "store") body.push(h("details", {}, h("summary", {}, "Stored value"), jsonBlock(node.result)));
    const buttons = [];
    if (node.resumable && canWrite()) {
      buttons.push(h("button", {
        class: "button small primary", "data-action": "resume", "data-step": node.name,
        onclick: () => runAction("resume", owner, namespace, { suspension: node.suspension, what: label }),
      }, node.type === "sleep" ? "Wake now" : "Approve"));
    }
    if (node.logs) {
      const shown = open.has(key);
      buttons.push(h("button", {
        class: "button small", "data-logs": node.name, "aria-expanded": String(shown),
        onclick: () => { if (open.has(key)) { open.delete(key); stopFollow(key); } else open.add(key); load(); },
      }, shown ? "Hide logs" : (node.running ? "Follow logs" : "Logs")));
    }
    if (buttons.length) body.push(h("div", { class: "step-actions" }, buttons));
    if (node.logs && open.has(key)) body.push(logPanel(key, node, owner));
    return h("li", { class: "step", "data-step": node.name, "data-type": node.type },
      h("div", { class: "step-row" },
        h("span", { class: "step-icon", "aria-hidden": "true" }, ICONS[node.type] || "\u2022"),
        h("div", { class: "step-main" },
          h("div", { class: "step-title" }, h("span", { class: "label" }, label), h("span", { class: "step-kind" }, KINDS[node.type] || node.type), phaseBadge(node.phase)),
          meta.length ? h("div", { class: "step-meta" }, meta) : "",
          body.length ? h("div", { class: "step-body" }, body) : "")));
  }

  function executionNode(node, isRoot) {
    const label = node.displayName || node.name;
    const meta = [];
    if (!isRoot && label !== node.name) meta.push(h("a", { href: execPath(node.namespace, node.name), "data-link": true, class: "mono" }, node.name));
    if (!isRoot) meta.push(h("span", { class: "mono" }, node.pipeline ? "pipeline step" : node.function));
    if (node.started) meta.push(h("span", {}, (node.finished ? "took " : "running for ") + duration(node.started, node.finished)));
    if (node.attempts) meta.push(h("span", {}, `attempt ${node.attempts + 1}`));
    const body = [];
    if (!isRoot && node.description) body.push(h("div", { class: "step-desc" }, node.description));
    if (!isRoot && node.message) body.push(h("div", { class: "step-desc" }, node.message));
    if (!isRoot && node.error && !["Completed", "Backoff"].includes(node.phase)) {
      body.push(h("div", { class: "error-text" }, `${node.error.kind}: ${node.error.message}`));
      if (node.error.stackTrace) body.push(h("details", {}, h("summary", {}, "Where it was raised"), h("pre", { class: "code" }, node.error.stackTrace)));
    }
    if (!isRoot && node.progress) body.push(progressBar(node.progress));
    if (!isRoot && node.result !== null && node.result !== undefined) body.push(h("details", {}, h("summary", {}, "Result"), jsonBlock(node.result)));
    if (!isRoot && canWrite()) {
      const acts = allowedActions(node.phase).filter((a) => a !== "resubmit" && a !== "resume");
      if (acts.length) body.push(h("div", { class: "step-actions" }, acts.map((action) => h("button", {
        class: `button small ${ACTIONS[action].danger ? "danger" : ""}`, "data-action": action, "data-step": node.name,
        onclick: () => runAction(action, node.name, node.namespace),
      }, ACTIONS[action].label))));
    }
    const kids = (node.steps || []).map((s) => stepNode(s, false, node.name));
    if (isRoot) return kids.length ? kids : h("li", { class: "empty" }, "No steps yet.");
    return h("li", { class: "step", "data-step": node.name, "data-type": "execution" },
      h("div", { class: "step-row" },
        h("span", { class: "step-icon", "aria-hidden": "true" }, ICONS.execution),
        h("div", { class: "step-main" },
          h("div", { class: "step-title" }, h("a", { class: "label", href: execPath(node.namespace, node.name), "data-link": true }, label), h("span", { class: "step-kind" }, "child execution"), phaseBadge(node.phase)),
          meta.length ? h("div", { class: "step-meta" }, meta) : "",
          body.length ? h("div", { class: "step-body" }, body) : "",
          kids.length ? h("ul", {}, kids) : "")));
  }

  function logPanel(key, node, owner) {
    let entry = followers.get(key);
    if (!entry) {
      const pre = h("pre", { class: "logs", tabindex: "0", "aria-label": `Logs of ${node.name}` });
      const status = h("span", {}, node.running ? "following\u2026" : "");
      entry = { pre, status, abort: new AbortController(), done: false };
      followers.set(key, entry);
      follow(entry, node, owner);
    }
    return h("div", { class: "logs-box" }, h("div", { class: "logs-head" }, h("span", {}, `logs of ${node.name}`), entry.status), entry.pre);
  }

  async function follow(entry, node, owner) {
    const query = new URLSearchParams({ namespace, step: node.name, execution: owner, follow: "true" });
    try {
      const response = await fetch(`/api/v1/executions/${encodeURIComponent(name)}/logs?${query}`, { signal: entry.abort.signal, credentials: "same-origin" });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        entry.pre.textContent = data.message || `${response.status}`;
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = entry.pre.scrollTop + entry.pre.clientHeight >= entry.pre.scrollHeight - 8;
        entry.pre.append(decoder.decode(value, { stream: true }));
        if (atEnd) entry.pre.scrollTop = entry.pre.scrollHeight;
      }
      entry.status.textContent = "end of logs";
      if (!entry.pre.textContent) entry.pre.textContent = "(no output)";
    } catch (error) {
      if (error.name !== "AbortError") entry.status.textContent = error.message;
    }
  }

  function stopFollow(key) {
    const entry = followers.get(key);
    if (entry) { entry.abort.abort(); followers.delete(key); }
  }

  const refresh = debounced(load, 150);
  load();
  return {
    refresh: (change) => {
      if (!change) return refresh();
      const ex = change.execution;
      if (change.kind === "Execution" && ex && typeof ex === "object" && (ex.root === root || ex.name === name)) refresh();
      else if (change.kind === "Suspension" && (change.root === root || change.owner === name)) refresh();
      else if (change.kind === "Execution" && change.type === "DELETED" && change.name === name) refresh();
    },
    close: () => { controller.abort(); for (const key of [...followers.keys()]) stopFollow(key); },
  };
}

// -- new execution ----------------------------------------------------------------------

function resolveRef(schema, root) {
  if (schema && schema.$ref && schema.$ref.startsWith("#/$defs/")) return root.$defs[schema.$ref.slice(8)] || {};
  if (schema && schema.allOf && schema.allOf.length === 1) return { ...resolveRef(schema.allOf[0], root), ...schema, allOf: undefined };
  return schema || {};
}

function schemaFields(schema, values) {
  const root = schema || {};
  const props = root.properties || {};
  const required = new Set(root.required || []);
  const fields = [];
  for (const [key, raw] of Object.entries(props)) {
    const prop = resolveRef(raw, root);
    const type = prop.type || (prop.enum ? "string" : (prop.anyOf ? "json" : "json"));
    const id = `f-${key}`;
    const title = prop.title && prop.title.toLowerCase().replace(/ /g, "") !== key.toLowerCase().replace(/_/g, "") ? prop.title : key;
    const value = values[key] !== undefined ? values[key] : prop.default;
    let input;
    if (prop.enum) {
      input = h("select", { id, name: key }, (required.has(key) || value !== undefined ? [] : [h("option", { value: "" }, "\u2014")]).concat(
        prop.enum.map((v) => h("option", { value: JSON.stringify(v), selected: JSON.stringify(v) === JSON.stringify(value) }, String(v)))));
      input.dataset.kind = "enum";
    } else if (type === "boolean") {
      input = h("input", { type: "checkbox", id, name: key, checked: Boolean(value) });
      input.dataset.kind = "boolean";
    } else if (type === "integer" || type === "number") {
      input = h("input", { type: "number", id, name: key, step: type === "integer" ? "1" : "any", value: value ?? "", min: prop.minimum, max: prop.maximum, inputmode: "numeric" });
      input.dataset.kind = type;
    } else if (type === "string") {
      input = h("input", { type: "text", id, name: key, value: value ?? "", placeholder: prop.examples ? String(prop.examples[0]) : "" });
      input.dataset.kind = "string";
    } else {
      input = h("textarea", { id, name: key, rows: 4, class: "mono", placeholder: "JSON" }, value !== undefined ? JSON.stringify(value, null, 2) : "");
      input.dataset.kind = "json";
    }
    const hint = [prop.description, prop.default !== undefined && type !== "boolean" ? `Default: ${JSON.stringify(prop.default)}` : ""].filter(Boolean).join(" \u00B7 ");
    const field = type === "boolean"
      ? h("div", { class: "field" }, h("div", { class: "field inline" }, input, h("label", { for: id }, title)), hint ? h("div", { class: "hint" }, hint) : "")
      : h("div", { class: "field" }, h("label", { for: id }, title, required.has(key) ? h("span", { class: "req", "aria-hidden": "true" }, "*") : ""), input, hint ? h("div", { class: "hint" }, hint) : "");
    if (required.has(key)) input.setAttribute("aria-required", "true");
    fields.push({ key, input, field, required: required.has(key) });
  }
  return fields;
}

function readFields(fields) {
  const out = {};
  const problems = [];
  for (const { key, input } of fields) {
    const kind = input.dataset.kind;
    if (kind === "boolean") { out[key] = input.checked; continue; }
    const text = input.value.trim();
    if (text === "") continue;  // left empty: the server applies the default or says it is required
    if (kind === "enum") out[key] = JSON.parse(text);
    else if (kind === "integer" || kind === "number") {
      const n = Number(text);
      if (Number.isNaN(n)) problems.push(`${key}: not a number`); else out[key] = n;
    } else if (kind === "json") {
      try { out[key] = JSON.parse(text); } catch (e) { problems.push(`${key}: not valid JSON (${e.message})`); }
    } else out[key] = text;
  }
  return { values: out, problems };
}

function newView(main) {
  const controller = new AbortController();
  const params = new URLSearchParams(location.search);
  let mode = params.get("pipeline") ? "pipeline" : (params.get("yaml") ? "yaml" : "function");
  let functions = [], pipelines = [];
  const box = h("div");
  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "New Execution"), h("div", { class: "subtitle" }, `in namespace ${state.namespace}`))),
    box);
  if (!canWrite()) {
    box.append(h("div", { class: "callout" }, "This server is read-only: it shows executions but starts none."));
    return { close: () => controller.abort() };
  }

  Promise.all([
    api("/api/v1/functions", { signal: controller.signal }),
    api("/api/v1/pipelines", { signal: controller.signal }),
  ]).then(([f, p]) => {
    functions = f.items.filter((x) => !x.builtin);
    pipelines = p.items;
    render();
  }).catch((error) => { if (error.name !== "AbortError") box.replaceChildren(h("div", { class: "callout error" }, error.message)); });

  function render() {
    const seg = h("div", { class: "segmented", role: "group", "aria-label": "What to run" },
      [["function", "Function"], ["pipeline", "Pipeline"], ["yaml", "Pipeline YAML"]].map(([key, label]) => h("button", {
        type: "button", "aria-pressed": String(mode === key), onclick: () => { mode = key; render(); },
      }, label)));
    const form = h("form", { class: "panel form", novalidate: true });
    const errors = h("div", { "aria-live": "assertive" });
    const nameInput = h("input", { id: "f-name", type: "text", placeholder: "generated when empty", autocomplete: "off" });
    const options = [];
    let fields = [];
    let chooser = null;
    const fieldBox = h("div", { class: "form", style: "padding:0" });
    const describe = h("div", { class: "hint" });

    const showFields = (schema, values = {}) => {
      fields = schemaFields(schema, values);
      fieldBox.replaceChildren(...(fields.length ? fields.map((f) => f.field) : [h("div", { class: "muted small" }, "No arguments.")]));
    };

    if (mode === "function") {
      chooser = h("select", { id: "f-target" }, functions.map((f) => h("option", { value: f.name, selected: f.name === params.get("function") }, f.displayName ? `${f.displayName} (${f.name})` : f.name)));
      const pick = () => {
        const f = functions.find((x) => x.name === chooser.value);
        describe.textContent = f ? [f.description, `group ${f.group}`].filter(Boolean).join(" \u00B7 ") : "";
        showFields(f ? f.argumentSchema : {});
      };
      chooser.addEventListener("change", pick);
      options.push(h("div", { class: "field" }, h("label", { for: "f-target" }, "Function"), functions.length ? chooser : h("div", { class: "muted" }, "No function is published. Start a worker, or the server with --import."), describe));
      options.push(fieldBox);
      if (functions.length) pick();
    } else if (mode === "pipeline") {
      chooser = h("select", { id: "f-target" }, pipelines.map((p) => h("option", { value: p.file, selected: p.file === params.get("pipeline") }, p.name ? `${p.name} (${p.file})` : p.file)));
      const pick = () => {
        const p = pipelines.find((x) => x.file === chooser.value);
        describe.textContent = p ? (p.description || "") : "";
        if (p && p.problems) {
          fields = [];
          fieldBox.replaceChildren(problemList(`${p.file} has problems`, p.problems));
        } else showFields(p ? p.params : {});
      };
      chooser.addEventListener("change", pick);
      options.push(h("div", { class: "field" }, h("label", { for: "f-target" }, "Pipeline"), pipelines.length ? chooser : h("div", { class: "muted" }, "The server offers no pipeline files (start it with --pipelines DIR)."), describe));
      options.push(fieldBox);
      if (pipelines.length) pick();
    } else {
      const fileName = h("input", { id: "f-filename", type: "text", value: "pipeline.yaml" });
      const content = h("textarea", { id: "f-content", class: "mono", rows: 14, spellcheck: "false", placeholder: "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\n..." });
      const paramsBox = h("textarea", { id: "f-params", class: "mono", rows: 4, placeholder: "{\"service\": \"shop\"}" });
      chooser = { fileName, content, paramsBox };
      options.push(h("div", { class: "grid-2" },
        h("div", { class: "field" }, h("label", { for: "f-filename" }, "File name"), fileName, h("div", { class: "hint" }, "Used in error messages; calls and imports are found beside the server's working directory.")),
        h("div", { class: "field" }, h("label", { for: "f-params" }, "Params (JSON)"), paramsBox)));
      options.push(h("div", { class: "field" }, h("label", { for: "f-content" }, "Pipeline YAML"), content));
    }

    const submit = h("button", { class: "button primary", type: "submit" }, "Start");
    form.append(seg, ...options,
      h("div", { class: "field" }, h("label", { for: "f-name" }, "Execution name ", h("span", { class: "muted small" }, "(optional)")), nameInput),
      errors,
      h("div", { class: "actions" }, submit, h("a", { class: "button", href: "/", "data-link": true }, "Cancel")));
    box.replaceChildren(form);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errors.replaceChildren();
      let body;
      if (mode === "yaml") {
        let p = {};
        const text = chooser.paramsBox.value.trim();
        if (text) {
          try { p = JSON.parse(text); } catch (e) { errors.replaceChildren(problemList("The params are not valid JSON", [e.message])); return; }
        }
        body = { pipeline: { content: chooser.content.value, filename: chooser.fileName.value.trim() || "pipeline.yaml" }, params: p };
      } else {
        const { values, problems } = readFields(fields);
        if (problems.length) { errors.replaceChildren(problemList("Some values cannot be read", problems)); return; }
        body = mode === "function" ? { function: chooser.value, arguments: values } : { pipeline: { file: chooser.value }, params: values };
      }
      if (nameInput.value.trim()) body.name = nameInput.value.trim();
      submit.disabled = true;
      try {
        const result = await api("/api/v1/executions", { body });
        toast(`Started ${result.execution.name}`);
        navigate(execPath(result.execution.namespace, result.execution.name));
      } catch (error) {
        const problems = (error.problems || []).map((p) => (typeof p === "string" ? p : p.text));
        errors.replaceChildren(problemList(error.message, problems.length > 1 || (problems[0] && problems[0] !== error.message) ? problems : []));
        errors.scrollIntoView({ block: "nearest" });
      } finally {
        submit.disabled = false;
      }
    });
  }

  return { close: () => controller.abort() };
}

function problemList(title, problems) {
  return h("ul", { class: "problems", role: "alert" }, h("li", { class: "head" }, title), problems.map((p) => h("li", { class: "mono" }, p)));
}

// -- functions --------------------------------------------------------------------------

function functionsView(main) {
  const controller = new AbortController();
  const box = h("div", { class: "cards" });
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Functions"), h("div", { class: "subtitle" }, `Published in namespace ${state.namespace}`))), box);
  api("/api/v1/functions", { signal: controller.signal }).then((data) => {
    const items = data.items.filter((f) => !f.builtin);
    if (!items.length) { box.replaceChildren(h("div", { class: "panel empty" }, "No function is published yet: start a worker (kontinue worker --import MODULE).")); return; }
    box.replaceChildren(...items.map((f) => {
      const schema = f.argumentSchema || {};
      const required = new Set(schema.required || []);
      const rows = Object.entries(schema.properties || {}).map(([key, raw]) => {
        const prop = resolveRef(raw, schema);
        return h("tr", {},
          h("td", { class: "mono" }, key, required.has(key) ? h("span", { class: "req", title: "required" }, " *") : ""),
          h("td", { class: "mono muted" }, prop.enum ? prop.enum.join(" | ") : (prop.type || "any")),
          h("td", { class: "muted" }, [prop.description, prop.default !== undefined ? `default ${JSON.stringify(prop.default)}` : ""].filter(Boolean).join(" \u00B7 ")));
      });
      return h("article", { class: "panel card" },
        h("div", { style: "display:flex;justify-content:space-between;gap:8px;align-items:center" }, h("h2", { class: "mono", style: "margin:0" }, f.name), h("span", { class: "group" }, f.group)),
        f.description ? h("div", { class: "muted" }, f.description) : "",
        rows.length ? h("table", { class: "args" }, h("thead", {}, h("tr", {}, h("th", {}, "Argument"), h("th", {}, "Type"), h("th", {}, "About"))), h("tbody", {}, rows)) : h("div", { class: "muted small" }, "No arguments."),
        canWrite() ? h("div", {}, h("a", { class: "button small", href: `/new?function=${encodeURIComponent(f.name)}`, "data-link": true }, "Start")) : "");
    }));
  }).catch((error) => { if (error.name !== "AbortError") box.replaceChildren(h("div", { class: "callout error" }, error.message)); });
  return { close: () => controller.abort() };
}

// -- schedules --------------------------------------------------------------------------

function until(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = (Date.parse(iso) - now) / 1000;
  return seconds <= 0 ? "due now" : `in ${span(Math.max(1, seconds))}`;
}

function whenIn(iso, zone) {
  try {
    return `${new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: zone })} ${zone}`;
  } catch (error) {
    return when(iso);  // a zone this browser does not know
  }
}

const SCHEDULE_ACTIONS = {
  suspend: { label: "Suspend", title: "Suspend schedule", ok: "Suspend", danger: true, text: (n) => `Suspend ${n}? No new runs start until it is resumed; runs already going are not touched.` },
  resume: { label: "Resume", title: "Resume schedule", ok: "Resume", text: (n) => `Resume ${n}? Runs start again at its cron times; the latest tick missed while suspended may run at once.` },
  trigger: { label: "Run now", title: "Run now", ok: "Run now", text: (n) => `Start a run of ${n} now, with its function and arguments, outside its cron times?` },
};

async function runScheduleAction(action, item, done) {
  const spec = SCHEDULE_ACTIONS[action];
  if (!(await confirmAction(spec.title, spec.text(item.name), spec.ok, spec.danger))) return;
  const url = `/api/v1/schedules/${encodeURIComponent(item.name)}/${action}?namespace=${encodeURIComponent(item.namespace)}`;
  try {
    const result = await api(url, { body: {} });
    if (action === "trigger") toast(`Started ${result.execution.name}`);
    else toast(result.changed ? `${action === "suspend" ? "Suspended" : "Resumed"} ${item.name}` : `${item.name} already was ${action === "suspend" ? "suspended" : "running"}`);
    done();
  } catch (error) {
    toast(`${spec.title} failed: ${error.message}`, true);
  }
}

function schedulesView(main) {
  const controller = new AbortController();
  const body = h("tbody");
  main.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, "Schedules"), h("div", { class: "subtitle" }, `ScheduledExecutions in namespace ${state.namespace}: each starts an Execution at its cron times`))),
    h("div", { class: "panel" },
      h("table", { class: "table schedules" },
        h("thead", {}, h("tr", {}, ["Name", "Schedule", "Next run", "Last run", "Status", ""].map((c) => h("th", { scope: "col" }, c)))),
        body)));

  function buttons(item) {
    if (!canWrite()) return "";
    const act = (action) => h("button", {
      class: `button small ${SCHEDULE_ACTIONS[action].danger ? "danger" : ""}`,
      "data-action": action,
      onclick: () => runScheduleAction(action, item, load),
    }, SCHEDULE_ACTIONS[action].label);
    return h("div", { class: "actions" }, act(item.suspended ? "resume" : "suspend"), act("trigger"));
  }

  function row(item) {
    const last = item.lastRun;
    const what = item.pipeline ? `pipeline ${item.pipeline}` : item.function;
    return h("tr", { "data-schedule": item.name, "data-suspended": String(item.suspended) },
      h("td", { class: "name" },
        h("a", { href: `/?selector=${encodeURIComponent(`kontinue.cloud/scheduled-by=${item.name}`)}&children=1`, "data-link": true, title: "Its runs" }, item.name),
        h("span", { class: "sub mono" }, what),
        item.description ? h("span", { class: "sub" }, item.description) : ""),
      h("td", { class: "cron" }, h("code", { class: "mono" }, item.schedule), h("span", { class: "sub" }, item.timezone)),
      h("td", { class: "next num" }, item.nextRun ? [timeTag(item.nextRun, until(item.nextRun)), h("span", { class: "sub" }, whenIn(item.nextRun, item.timezone))] : "\u2014"),
      h("td", { class: "last" }, last ? [
        h("a", { href: execPath(item.namespace, last.name), "data-link": true, class: "mono" }, last.name),
        " ", last.phase ? phaseBadge(last.phase) : h("span", { class: "muted small" }, "deleted"),
        h("span", { class: "sub" }, last.created ? `${since(last.created)} ago${last.manual ? ", run by hand" : ""}` : ""),
      ] : h("span", { class: "muted" }, "never")),
      h("td", { class: "ph" },
        item.suspended ? h("span", { class: "phase Suspended" }, "Suspended") : h("span", { class: "phase Running" }, "Active"),
        item.message ? h("span", { class: "sub" }, item.message) : ""),
      h("td", { class: "acts" }, buttons(item)));
  }

  const load = oneAtATime(async () => {
    try {
      const data = await api("/api/v1/schedules", { signal: controller.signal });
      body.replaceChildren(...(data.items.length ? data.items.map(row) : [
        h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No schedules in this namespace. Create one with kontinue schedule create NAME FUNCTION --cron \"0 2 * * *\"."))]));
    } catch (error) {
      if (error.name !== "AbortError") body.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "empty" }, error.message)));
    }
  });

  const refresh = debounced(load, 300);
  const ticker = setInterval(() => {
    for (const t of body.querySelectorAll("td.next time")) t.textContent = until(t.getAttribute("datetime"));
  }, 5000);
  load();
  return {
    refresh: (change) => { if (!change || change.kind === "ScheduledExecution" || change.kind === "Execution") refresh(); },
    close: () => { controller.abort(); clearInterval(ticker); },
  };
}

// -- sign-in and start-up ---------------------------------------------------------------

function showSignIn(message) {
  if (document.getElementById("signin")) return;
  const main = document.getElementById("main");
  const token = h("input", { id: "token", type: "password", autocomplete: "current-password" });
  const error = h("div", { class: "field-error", role: "alert" });
  const form = h("form", { id: "signin", class: "panel form", style: "max-width:460px" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, message || "This server needs its token."),
    h("div", { class: "field" }, h("label", { for: "token" }, "Token"), token),
    error,
    h("div", {}, h("button", { class: "button primary", type: "submit" }, "Sign in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/v1/login", { body: { token: token.value }, noNamespace: true });
      location.reload();
    } catch (e) { error.textContent = e.message; }
  });
  if (state.view) state.view.close();
  state.view = null;
  main.replaceChildren(form);
  token.focus();
}

async function start() {
  try {
    state.info = await api("/api/v1/info");
  } catch (error) {
    if (error.status !== 401) document.getElementById("main").replaceChildren(h("div", { class: "callout error" }, error.message));
    return;
  }
  const info = state.info;
  document.body.classList.toggle("readonly", !info.canWrite);
  for (const el of document.querySelectorAll(".write-only")) el.hidden = !info.canWrite;
  const mode = document.getElementById("mode");
  mode.textContent = info.authMode === "readonly" ? "read-only" : (info.user ? info.user : info.authMode);
  mode.title = `Auth mode ${info.authMode}${info.user ? `, signed in as ${info.user}` : ""}`;
  const select = document.getElementById("namespace");
  select.replaceChildren(...info.namespaces.map((ns) => h("option", { value: ns, selected: ns === state.namespace }, ns)));
  select.addEventListener("change", async () => {
    state.namespace = select.value;
    localStorage.setItem("kontinue.ns", state.namespace);
    state.info = await api("/api/v1/info");
    for (const el of document.querySelectorAll(".write-only")) el.hidden = !state.info.canWrite;
    connectEvents();
    route();
  });
  connectEvents();
  route();
}

start();
