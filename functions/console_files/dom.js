// Small DOM helpers: elements are built from text nodes only (never parsed as HTML), so API text cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  append(el, children);
  return el;
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function money(value) {
  return value === null || value === undefined ? "—" : `$${Number(value).toFixed(value < 1 ? 4 : 2)}`;
}

export function progressBar(percent, label) {
  const value = percent === null || percent === undefined ? null : Math.max(0, Math.min(100, percent));
  const bar = h("progress", { max: 100, "aria-label": label });
  if (value !== null) bar.value = value;
  return h("span", { class: "progress" }, bar, h("span", { class: "pct" }, value === null ? "" : `${value}%`));
}

export function statusBadge(status, sandbox) {
  return h(
    "span",
    { class: "badges" },
    h("span", { class: `badge s-${status}` }, status.replaceAll("_", " ")),
    sandbox ? h("span", { class: "badge sandbox", title: "Runs in the sandbox: simulated, costs nothing" }, "sandbox") : null,
  );
}

// A labelled form field: every control gets a <label for>.
let nextId = 0;
export function field(label, control, hint) {
  const id = control.id || `f${++nextId}`;
  control.id = id;
  const hintEl = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}
