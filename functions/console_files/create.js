// The new deployment form: the model, a GPU choice that shows the VRAM estimate and each pool's price,
// webhook URL, replicas, the Runpod key (or the default stored credential) and the sandbox switch.

import { get, post, query } from "./api.js";
import { field, h, money, replace } from "./dom.js";

const SCENARIOS = [
  ["ok", "Works (ok)"],
  ["crash_loop", "Crash loop: fails with worker_unhealthy"],
  ["no_capacity", "No capacity: waits for GPUs"],
  ["slow_start", "Slow start: takes minutes"],
];
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

function poolChoice(option, index) {
  const id = `pool-${index}`;
  const radio = h("input", { type: "radio", name: "gpu_tier", value: option.pool, id, disabled: !option.fits });
  const count = option.gpu_count && option.gpu_count > 1 ? ` ×${option.gpu_count}` : "";
  const price = option.fits ? `${money(option.price_per_hour)}/h` : "does not fit";
  return h("div", { class: `choice${option.fits ? "" : " unfit"}` }, radio,
    h("label", { for: id }, h("strong", {}, option.pool), ` ${option.gpus.join(", ")} · ${option.vram_gb} GB${count} · ${price}`));
}

export function renderCreate(main, { announce, go }) {
  const model = h("input", { name: "model", required: true, autocomplete: "off", spellcheck: "false",
    placeholder: "stabilityai/sdxl-turbo" });
  const estimate = h("p", { class: "sub", id: "vram-estimate", "aria-live": "polite" }, "Enter a model to see its VRAM estimate.");
  const auto = h("input", { type: "radio", name: "gpu_tier", value: "auto", id: "pool-auto", checked: true });
  const pools = h("div", { class: "choices" });
  const gpu = h("fieldset", { class: "gpu" }, h("legend", {}, "GPU"), estimate,
    h("div", { class: "choice" }, auto, h("label", { for: "pool-auto" }, h("strong", {}, "Automatic"), " the cheapest pools that fit")),
    pools);
  const webhook = h("input", { name: "webhook", type: "url", placeholder: "https://example.com/hook", autocomplete: "off" });
  const minR = h("input", { name: "min_replicas", type: "number", min: 0, max: 10, value: 0, inputmode: "numeric" });
  const maxR = h("input", { name: "max_replicas", type: "number", min: 1, max: 10, value: 1, inputmode: "numeric" });
  const key = h("input", { name: "runpod_key", type: "password", autocomplete: "off" });
  const sandbox = h("input", { name: "sandbox", type: "checkbox", id: "sandbox", checked: true });
  const scenario = h("select", { name: "scenario" }, SCENARIOS.map(([value, text]) => h("option", { value }, text)));
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit" }, "Deploy");
  const form = h("form", { class: "card", id: "create-form" },
    h("h1", { tabindex: -1 }, "New deployment"),
    field("Model", model, "A Hugging Face id (org/model) or a registered model name"),
    gpu,
    field("Webhook URL (optional)", webhook, "Signed status events are sent here"),
    h("div", { class: "row" }, field("Min replicas", minR), field("Max replicas", maxR)),
    h("div", { class: "choice switch" }, sandbox, h("label", { for: "sandbox" }, "Sandbox: simulated Runpod, costs nothing")),
    field("Sandbox scenario", scenario, "Ask the sandbox for a failure to test your error handling"),
    field("Runpod API key (optional)", key, "Blank: your default stored credential. Not needed in the sandbox."),
    submit, error);
  replace(main, form);
  const keyNeeded = () => {
    key.disabled = sandbox.checked;  // a sandbox deployment takes no Runpod key
    scenario.disabled = !sandbox.checked;
  };
  sandbox.addEventListener("change", keyNeeded);
  keyNeeded();

  let timer = null;
  let asked = "";
  async function loadPools() {
    const id = model.value.trim();
    const modelId = REPO_ID.test(id) ? id : "";
    if (modelId === asked && pools.childElementCount) return;
    asked = modelId;
    try {
      const list = await get(`/v1/gpu-pools${query({ model_id: modelId })}`);
      if (asked !== modelId) return;
      estimate.textContent = list.required_vram_gb !== null
        ? `Estimated VRAM: ${list.required_vram_gb} GB`
        : modelId ? `No VRAM estimate: ${list.estimate_error || "unknown"}` : "Enter a Hugging Face id to see which GPUs fit.";
      const chosen = form.elements.gpu_tier.value;
      replace(pools, list.data.map(poolChoice));
      const again = pools.querySelector(`input[value="${CSS.escape(chosen)}"]:not([disabled])`);
      if (again) again.checked = true;
      else auto.checked = true;
      form.dataset.pools = modelId || "any";
    } catch (err) {
      estimate.textContent = `GPU list unavailable: ${err.message}`;
    }
  }
  model.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(loadPools, 400);
  });
  model.addEventListener("change", loadPools);
  loadPools();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const id = model.value.trim();
    const body = REPO_ID.test(id) ? { hf_model_id: id } : { model_name: id };
    body.gpu_tier = form.elements.gpu_tier.value || "auto";
    body.min_replicas = Number(minR.value);
    body.max_replicas = Number(maxR.value);
    if (webhook.value.trim()) body.user_webhook_url = webhook.value.trim();
    if (sandbox.checked) body.sandbox = scenario.value === "ok" ? true : { scenario: scenario.value };
    else if (key.value.trim()) body.user_runpod_key = key.value.trim();
    submit.disabled = true;
    try {
      const created = await post("/v1/deployments", body);
      announce(`Deployment ${created.deployment_id} created.`);
      go(`#/deployments/${created.deployment_id}`);
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
    }
  });
  return () => clearTimeout(timer);
}
