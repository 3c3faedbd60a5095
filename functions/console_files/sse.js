// Server-Sent Events over fetch(): EventSource cannot send an Authorization header, so the stream is read
// from a ReadableStream and parsed here (the WHATWG event-stream format: event, data, id, comments).

import { request } from "./api.js";

export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "message";
  let data = [];
  let id = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split(/\r\n|\n|\r/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === "") {
        if (data.length) onEvent({ event: name, data: data.join("\n"), id });
        name = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const key = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (key === "data") data.push(val);
      else if (key === "event") name = val;
      else if (key === "id") id = val;
    }
  }
}

const pause = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

// Follow a stream until a "done" event or abort; a dropped connection is opened again with Last-Event-ID,
// so no line is lost or repeated. onState("live" | "reconnecting" | "ended" | "error", connections so far).
export async function follow(path, { onEvent, onState, signal }) {
  let lastId = null;
  let delay = 500;
  let connects = 0;
  while (!signal.aborted) {
    try {
      const headers = lastId ? { "Last-Event-ID": lastId } : {};
      const resp = await request("GET", path, undefined, signal, headers);
      if (resp.status === 429 || resp.status === 503) {
        // Too many long requests at once: wait as told, then try again.
        const wait = Number(resp.headers.get("Retry-After")) || 5;
        onState("reconnecting");
        await pause(wait * 1000, signal);
        continue;
      }
      if (!resp.ok) {
        onState("error", resp.status);
        return;
      }
      connects += 1;
      onState("live", connects);
      delay = 500;
      let finished = false;
      await readEvents(resp, (ev) => {
        if (ev.id) lastId = ev.id;
        if (ev.event === "done") finished = true;
        onEvent(ev);
      });
      if (finished) {
        onState("ended");
        return;
      }
    } catch (err) {
      if (signal.aborted) return;
    }
    onState("reconnecting");
    await pause(delay, signal);
    delay = Math.min(delay * 2, 8000);
  }
}
