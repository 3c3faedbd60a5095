// A deployment's page: summary with progress, actions, "try it", the steps timeline, health, the worker's
// errors and warnings, live logs (SSE, resumed with Last-Event-ID) and webhook deliveries with redeliver.

import { ApiError, del, depPath, get, post } from "./api.js";
import { field, h, money, progressBar, replace, statusBadge, when } from "./dom.js";
import { follow } from "./sse.js";
import { timeline } from "./timeline.js";
import { tryIt } from "./tryit.js";

const REFRESH_MS = 4000;
const SERVING = new Set(["ready", "webhook_failed"]);
const GONE = new Set(["deleting", "cleanup_failed", "deleted"]);
const MAX_LOG_LINES = 1000;

function summary(d) {
  const gpu = d.gpu_allocated ? `${d.gpu_allocated}${d.gpu_count > 1 ? ` ×${d.gpu_count}` : ""}` : "—";
  const rows = [
    ["Model", d.model_id], ["GPU", gpu], ["VRAM estimate", d.model_vram_gb ? `${d.model_vram_gb} GB` : "—"],
    ["Price / hour", d.sandbox ? "free (sandbox)" : money(d.cost && d.cost.price_per_hour)],
    ["Cost so far", d.sandbox ? "free (sandbox)" : money(d.cost && d.cost.estimated_cost_usd)],
    ["Replicas", `${d.min_replicas}–${d.max_replicas}`], ["Created", when(d.created_at)], ["Ready", when(d.ready_at)],
    ["Endpoint", d.endpoint_url || "—"],
  ];
  return h("div", {},
    h("p", { class: "status-line" }, statusBadge(d.status, d.sandbox), " ",
      h("span", { class: "phase", id: "phase" }, (d.phase || "").replaceAll("_", " "))),
    progressBar(d.progress, "Deployment progress"),
    d.error ? h("p", { class: "error" }, `${d.error.code || "error"}: ${d.error.message}`) : null,
    h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
}

function messages(d) {
  const items = [...d.errors.map((m) => ["error", m]), ...d.warnings.map((m) => ["warning", m])];
  if (!items.length) return h("p", { class: "sub" }, "No errors or warnings.");
  return h("ul", { class: "messages" }, items.map(([kind, m]) => h("li", { class: kind }, h("strong", {}, `${kind}: `), m)));
}

function healthView(health) {
  if (!health) return h("p", { class: "sub" }, "No health while the deployment is being deleted.");
  const workers = health.workers || {};
  return h("div", {}, h("p", {}, h("strong", { id: "health-state" }, health.data)),
    h("ul", {}, health.messages.map((m) => h("li", { class: m.severity }, m.message))),
    Object.keys(workers).length
      ? h("dl", { class: "facts workers" }, Object.entries(workers).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))
      : h("p", { class: "sub" }, "No worker counts yet."));
}

function logLine(line) {
  const time = new Date(line.timestamp).toLocaleTimeString();
  return h("li", { class: `log ${String(line.level).toLowerCase()}`, dataset: { id: line.id } }, h("time", { datetime: line.timestamp }, time),
    h("span", { class: "level" }, line.level), h("span", { class: "msg" }, line.message));
}

export function renderDetail(main, { announce, go, params: [id] }) {
  const controller = new AbortController();
  const parts = Object.fromEntries(["summary", "timeline", "health", "messages", "deliveries", "try"].map((k) => [k, h("div")]));
  const logs = h("ol", { class: "logs", id: "logs", tabindex: 0, "aria-label": "Log lines" });
  const streamState = h("span", { class: "badge", id: "stream-state" }, "connecting");
  const minR = h("input", { type: "number", name: "min_replicas", min: 0, max: 10, inputmode: "numeric" });
  const maxR = h("input", { type: "number", name: "max_replicas", min: 1, max: 10, inputmode: "numeric" });
  const scale = h("form", { class: "row", id: "scale-form" }, field("Min replicas", minR), field("Max replicas", maxR),
    h("button", { type: "submit", class: "secondary" }, "Scale"));
  const toggle = h("button", { type: "button", id: "pause-resume" }, "Pause");
  const remove = h("button", { type: "button", class: "danger", id: "delete" }, "Delete…");
  const confirm = h("dialog", { id: "confirm-delete", "aria-labelledby": "confirm-title" },
    h("h2", { id: "confirm-title" }, "Delete this deployment?"),
    h("p", {}, `${id} and its Runpod endpoint will be deleted. This cannot be undone.`),
    h("form", { method: "dialog", class: "row" }, h("button", { value: "cancel", class: "secondary" }, "Cancel"),
      h("button", { value: "delete", class: "danger", id: "confirm-delete-button" }, "Delete")));
  const card = (title, ...body) => h("section", { class: "card", "aria-label": title }, h("h2", {}, title), ...body);
  replace(main, h("h1", { tabindex: -1, id: "dep-title" }, id), h("p", {}, h("a", { href: "#/" }, "← All deployments")),
    h("div", { class: "grid" },
      card("Overview", parts.summary),
      card("Actions", scale, h("div", { class: "row" }, toggle, remove)),
      parts.try,
      card("Steps", parts.timeline),
      card("Health", parts.health),
      card("Worker errors and warnings", parts.messages),
      h("section", { class: "card wide", "aria-label": "Logs" }, h("h2", {}, "Live logs ", streamState), logs),
      h("section", { class: "card wide", "aria-label": "Webhook deliveries" }, h("h2", {}, "Webhook deliveries"), parts.deliveries)),
    confirm);

  let dep = null;
  let timer = null;
  let scaleFilled = false;
  let tryShown = false;

  function show(d) {
    dep = d;
    main.dataset.status = d.status;
    replace(parts.summary, summary(d));
    replace(parts.timeline, timeline(d.steps));
    replace(parts.messages, messages(d));
    if (!scaleFilled) {
      minR.value = d.min_replicas;
      maxR.value = d.max_replicas;
      scaleFilled = true;
    }
    toggle.textContent = d.status === "paused" ? "Resume" : "Pause";
    toggle.disabled = !(SERVING.has(d.status) || d.status === "paused");
    remove.disabled = GONE.has(d.status);
    const serving = SERVING.has(d.status);
    if (serving !== tryShown) replace(parts.try, serving ? tryIt(d) : null);
    tryShown = serving;
  }

  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    clearTimeout(timer);
    try {
      const d = await get(depPath(id), controller.signal);
      show(d);
      const [health, deliveries] = await Promise.all([
        GONE.has(d.status) ? null : get(depPath(id, "/health"), controller.signal),
        get(depPath(id, "/webhook-deliveries"), controller.signal),
      ]);
      replace(parts.health, healthView(health));
      replace(parts.deliveries, deliveryTable(deliveries.data));
    } catch (err) {
      if (controller.signal.aborted) return;
      if (err instanceof ApiError && err.status === 404) {
        announce(`Deployment ${id} no longer exists.`);
        controller.abort();
        return;
      }
      announce(`Could not refresh: ${err.message}`, "error");
    } finally {
      busy = false;
    }
    if (controller.signal.aborted) return;
    if (again) {
      again = false;
      refresh();
    } else timer = setTimeout(refresh, REFRESH_MS);
  }

  function deliveryTable(rows) {
    if (!rows.length) return h("p", { class: "sub" }, "No webhook deliveries.");
    return h("div", { class: "table-wrap" }, h("table", { id: "deliveries" },
      h("thead", {}, h("tr", {}, ["Event", "Status", "Attempts", "Last answer", "Created", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {},
        h("td", {}, r.event), h("td", {}, r.status), h("td", {}, String(r.attempts)),
        h("td", {}, r.last_status_code ? String(r.last_status_code) : r.last_error || "—"), h("td", {}, when(r.created_at)),
        h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `Redeliver ${r.event}`,
          onclick: () => act(`Redelivery of ${r.event} queued.`, () => post(depPath(id, `/webhook-deliveries/${r.delivery_id}/redeliver`))) },
        "Redeliver")))))));
  }

  async function act(done, call) {
    try {
      await call();
      announce(done);
    } catch (err) {
      announce(err.message, "error");
    }
    refresh();
  }

  scale.addEventListener("submit", (event) => {
    event.preventDefault();
    act("Scaling updated.", () => post(depPath(id, "/scale"), { min_replicas: Number(minR.value), max_replicas: Number(maxR.value) }));
  });
  toggle.addEventListener("click", () => {
    const resume = dep && dep.status === "paused";
    act(resume ? "Resumed." : "Paused.", () => post(depPath(id, resume ? "/start" : "/stop"), {}));
  });
  remove.addEventListener("click", () => confirm.showModal());
  confirm.addEventListener("close", async () => {
    if (confirm.returnValue !== "delete") return;
    controller.abort();
    try {
      await del(depPath(id));
      announce(`Deployment ${id} is being deleted.`);
      go("#/");
    } catch (err) {
      announce(`Delete failed: ${err.message}`, "error");
    }
  });

  follow(depPath(id, "/logs/stream?follow=true"), {
    signal: controller.signal,
    onState: (state, connects) => {
      streamState.textContent = state;
      streamState.dataset.state = state;
      if (state === "live") streamState.dataset.connects = connects;
    },
    onEvent: (ev) => {
      let data = null;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (ev.event === "log") {
        const stick = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
        logs.append(logLine(data));
        while (logs.childElementCount > MAX_LOG_LINES) logs.firstElementChild.remove();
        if (stick) logs.scrollTop = logs.scrollHeight;
      } else if (ev.event === "status" && dep && data.status !== dep.status) {
        refresh();
      }
    },
  });
  refresh();
  return () => {
    clearTimeout(timer);
    controller.abort();
  };
}
