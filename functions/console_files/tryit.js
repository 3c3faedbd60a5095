// "Try it" on a ready deployment: a streamed chat (the OpenAI-compatible route, stream=true, read with
// fetch), an image from an image model (the runsync output's base64 PNG), or raw JSON to runsync.

import { ApiError, depPath, post, request } from "./api.js";
import { field, h } from "./dom.js";
import { readEvents } from "./sse.js";

function chatPanel(dep) {
  const prompt = h("textarea", { name: "chat_prompt", rows: 2, required: true }, "Say hello in five words.");
  const answer = h("div", { class: "answer", id: "chat-answer", "aria-live": "polite" });
  const send = h("button", { type: "submit" }, "Send");
  const form = h("form", { class: "try", id: "chat-form" }, h("h3", {}, "Chat (streamed)"), field("Message", prompt), send, answer);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    answer.textContent = "";
    answer.dataset.state = "streaming";
    send.disabled = true;
    try {
      const body = { model: dep.deployment_id, stream: true, max_tokens: 128,
        messages: [{ role: "user", content: prompt.value }] };
      const resp = await request("POST", "/v1/chat/completions", body);
      if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
      await readEvents(resp, (ev) => {
        if (ev.data === "[DONE]") return;
        const chunk = JSON.parse(ev.data);
        const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
        if (delta && delta.content) answer.textContent += delta.content;
      });
      answer.dataset.state = "done";
    } catch (err) {
      answer.dataset.state = "error";
      answer.textContent = `Error: ${err.message}`;
    }
    send.disabled = false;
  });
  return form;
}

function pngOf(output) {
  if (!output || typeof output !== "object") return null;
  const first = Array.isArray(output.images) ? output.images[0] : output.image || output.image_base64;
  return typeof first === "string" ? first.replace(/^data:image\/png;base64,/, "") : null;
}

function imagePanel(dep) {
  const prompt = h("input", { name: "image_prompt", required: true, value: "a lighthouse at dawn" });
  const result = h("div", { class: "answer", "aria-live": "polite" });
  const form = h("form", { class: "try", id: "image-form" }, h("h3", {}, "Generate an image"), field("Prompt", prompt),
    h("button", { type: "submit" }, "Generate"), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.textContent = "Generating…";
    try {
      const job = await post(depPath(dep.deployment_id, "/runsync"), { input: { prompt: prompt.value } });
      const png = pngOf(job.output);
      if (png) result.replaceChildren(h("img", { src: `data:image/png;base64,${png}`, alt: `Generated: ${prompt.value}` }));
      else result.replaceChildren(h("pre", {}, JSON.stringify(job, null, 2)));
    } catch (err) {
      result.textContent = `Error: ${err.message}`;
    }
  });
  return form;
}

function rawPanel(dep) {
  const input = h("textarea", { name: "raw_json", rows: 4, spellcheck: "false" }, '{"input": {"prompt": "hello"}}');
  const result = h("pre", { class: "answer", "aria-live": "polite" });
  const form = h("form", { class: "try", id: "raw-form" }, h("h3", {}, "Raw JSON to runsync"), field("Request body", input),
    h("button", { type: "submit" }, "Send"), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let body;
    try {
      body = JSON.parse(input.value);
    } catch (err) {
      result.textContent = `Not valid JSON: ${err.message}`;
      return;
    }
    result.textContent = "Running…";
    try {
      result.textContent = JSON.stringify(await post(depPath(dep.deployment_id, "/runsync"), body), null, 2);
    } catch (err) {
      result.textContent = `Error: ${err.message}`;
    }
  });
  return form;
}

export function tryIt(dep) {
  const vllm = (dep.worker_image || "").includes("vllm");
  return h("section", { class: "card", "aria-labelledby": "try-title" }, h("h2", { id: "try-title" }, "Try it"),
    vllm ? chatPanel(dep) : imagePanel(dep), rawPanel(dep));
}
