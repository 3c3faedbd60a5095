// The console's entry: sign-in, the hash router (#/, #/new, #/deployments/<id>) and the status line.

import { ApiError, get, session } from "./api.js";
import { renderCreate } from "./create.js";
import { renderDetail } from "./detail.js";
import { field, h, replace } from "./dom.js";
import { renderList } from "./list.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const statusLine = document.getElementById("status");
let dispose = null;

export function announce(message, kind = "info") {
  statusLine.textContent = message;
  statusLine.dataset.kind = kind;
}

const ROUTES = [
  [/^#\/new$/, renderCreate],
  [/^#\/deployments\/([A-Za-z0-9_.-]+)$/, renderDetail],
  [/^(#\/?)?$/, renderList],
];

function render() {
  if (dispose) dispose();
  dispose = null;
  if (!session.key) {
    nav.hidden = true;
    renderSignIn();
    return;
  }
  nav.hidden = false;
  const hash = location.hash;
  for (const link of nav.querySelectorAll("a")) {
    const here = link.getAttribute("href") === (hash === "#/new" ? "#/new" : "#/") && !hash.startsWith("#/deployments/");
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const [pattern, view] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      dispose = view(main, { announce, go, params: match.slice(1).map(decodeURIComponent) }) || null;
      focusHeading();
      return;
    }
  }
  replace(main, h("h1", { tabindex: -1 }, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to deployments")));
  focusHeading();
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) heading.focus({ preventScroll: false });
}

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function renderSignIn() {
  const key = h("input", { type: "password", name: "api_key", autocomplete: "off", required: true, spellcheck: "false" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "card narrow", id: "sign-in" },
    h("h1", { tabindex: -1 }, "Sign in"),
    h("p", {}, "Use an API key of your tenant. It stays in this browser tab only (session storage)."),
    field("API key", key),
    h("button", { type: "submit" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    session.signIn(key.value.trim());
    try {
      await get("/v1/deployments?limit=1");
      announce("Signed in.");
      render();
    } catch (err) {
      session.signOut();
      error.textContent = err instanceof ApiError && err.status === 401 ? "That API key is not valid." : err.message;
    }
  });
  replace(main, form);
  key.focus();
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  announce("Signed out.");
  location.hash = "#/";
  render();
});

window.addEventListener("hashchange", render);
render();
