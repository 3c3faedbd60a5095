// The deployments list: filters by status and model, keyset pages (cursor / next_cursor), live refresh.

import { get, query } from "./api.js";
import { field, h, money, progressBar, replace, statusBadge, when } from "./dom.js";

export const STATUSES = [
  "validating", "selecting_gpu", "creating_endpoint", "downloading_model", "loading_model", "ready", "paused",
  "failed", "webhook_failed", "deleting", "cleanup_failed", "deleted",
];
const REFRESH_MS = 3000;

// One cell: its content in one box, so the phone layout (label | value) keeps it together.
const cell = (label, ...content) => h("td", { "data-label": label }, h("div", {}, ...content));

function row(d) {
  const gpu = d.gpu_allocated ? `${d.gpu_allocated}${d.gpu_count > 1 ? ` ×${d.gpu_count}` : ""}` : "—";
  return h(
    "tr",
    { dataset: { id: d.deployment_id, status: d.status } },
    cell("Deployment", h("a", { href: `#/deployments/${d.deployment_id}` }, d.deployment_name || d.deployment_id),
      h("div", { class: "sub" }, d.model_id)),
    cell("Status", statusBadge(d.status, d.sandbox)),
    cell("Phase", h("div", { class: "sub" }, (d.phase || "").replaceAll("_", " ")),
      progressBar(d.progress, `Progress of ${d.deployment_id}`)),
    cell("GPU", gpu),
    cell("Price / hour", d.sandbox ? "free" : money(d.cost && d.cost.price_per_hour)),
    cell("Cost so far", d.sandbox ? "free" : money(d.cost && d.cost.estimated_cost_usd)),
    cell("Created", when(d.created_at)),
    cell("Ready", when(d.ready_at)),
  );
}

export function renderList(main, { announce }) {
  const state = { status: "", model: "", cursors: [null] };
  const status = h("select", { name: "status" }, h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s }, s.replaceAll("_", " "))));
  const model = h("input", { name: "model_id", type: "search", placeholder: "org/model", autocomplete: "off" });
  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter deployments" },
    field("Status", status), field("Model", model), h("button", { type: "submit" }, "Filter"));
  const body = h("tbody");
  const table = h("table", { class: "deployments", id: "deployments" },
    h("caption", { class: "visually-hidden" }, "Your deployments, newest first"),
    h("thead", {}, h("tr", {}, ["Deployment", "Status", "Phase", "GPU", "Price / hour", "Cost so far", "Created", "Ready"]
      .map((c) => h("th", { scope: "col" }, c)))),
    body);
  const prev = h("button", { type: "button", class: "secondary" }, "Previous page");
  const next = h("button", { type: "button", class: "secondary" }, "Next page");
  const pageInfo = h("span", { class: "sub" });
  const empty = h("p", { class: "empty", hidden: true }, "No deployments. ", h("a", { href: "#/new" }, "Deploy a model"));
  replace(main, h("h1", { tabindex: -1 }, "Deployments"), filters,
    h("div", { class: "table-wrap" }, table), empty, h("nav", { class: "pager", "aria-label": "Pages" }, prev, pageInfo, next));

  let timer = null;
  let nextCursor = null;
  let gone = false;
  const controller = new AbortController();

  async function load() {
    clearTimeout(timer);
    const cursor = state.cursors[state.cursors.length - 1];
    try {
      const page = await get(`/v1/deployments${query({ status: state.status, model_id: state.model, cursor, limit: 20 })}`,
        controller.signal);
      replace(body, page.data.map(row));
      empty.hidden = page.data.length > 0;
      nextCursor = page.next_cursor;
      next.disabled = !nextCursor;
      prev.disabled = state.cursors.length < 2;
      pageInfo.textContent = `Page ${state.cursors.length}`;
      main.dataset.loaded = "true";
    } catch (err) {
      if (controller.signal.aborted) return;
      announce(`Could not load deployments: ${err.message}`, "error");
    }
    if (!gone) timer = setTimeout(load, REFRESH_MS);
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    state.status = status.value;
    state.model = model.value.trim();
    state.cursors = [null];
    load();
  });
  next.addEventListener("click", () => {
    if (nextCursor) state.cursors.push(nextCursor);
    load();
  });
  prev.addEventListener("click", () => {
    if (state.cursors.length > 1) state.cursors.pop();
    load();
  });
  load();
  return () => {
    gone = true;
    clearTimeout(timer);
    controller.abort();
  };
}
