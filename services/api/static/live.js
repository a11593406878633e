// The live feed (/api/v1/events, text/event-stream). EventSource cannot send an
// Authorization header, and every read needs a token when tokens are configured, so the
// stream is read with fetch and parsed here (the same wire format). A dropped stream is
// reopened after RETRY_MS; onState says "live" or "reconnecting", and the caller reloads
// its data on "live" (events sent while disconnected are not replayed).

import { headers, url } from "./api.js";

const RETRY_MS = 2000;

export function follow(onEvent, onState) {
  const run = async () => {
    for (;;) {
      try {
        await read(onEvent, onState);
      } catch (err) {
        console.warn("live feed:", err.message);
      }
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  };
  run();
}

async function read(onEvent, onState) {
  const resp = await fetch(url("/api/v1/events"), { headers: headers(), cache: "no-store" });
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end), onEvent, onState);
      buffer = buffer.slice(end + 2);
    }
  }
}

function dispatch(block, onEvent, onState) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === ": connected") onState("live");
    else if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (data.length) onEvent(event, JSON.parse(data.join("\n")));
}
