// The public REST API, with the key of this tab (sessionStorage) when there is one.

const KEY = "breathvoice.key";

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ""; },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY);
  },
  keysRequired: false,
  isAdmin: false,
};

function headers(extra = {}) {
  const out = {...extra};
  if (session.key) out.Authorization = `Bearer ${session.key}`;
  return out;
}

async function failure(response) {
  let message = `${response.status} ${response.statusText || "error"}`;
  let code;
  try {
    const body = await response.json();
    const detail = body.error ?? body.detail;
    if (typeof detail === "string") message = detail;
    else if (detail && typeof detail.message === "string") message = detail.message;
    code = body.code;
  } catch { /* not JSON: keep the status line */ }
  if (response.status === 401) message = `Not signed in: ${message}`;
  return new ApiError(message, response.status, code);
}

/** fetch() with the key; resolves to the response, throws ApiError in words. */
export async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, {...options, headers: headers(options.headers)});
  } catch {
    throw new ApiError("The server cannot be reached. Is it running?", 0, "NETWORK");
  }
  if (!response.ok) throw await failure(response);
  return response;
}

export async function getJSON(path) {
  return (await request(path)).json();
}

export async function sendJSON(path, method, body) {
  const response = await request(path, {
    method, body: JSON.stringify(body), headers: {"Content-Type": "application/json"},
  });
  return response.json();
}

export const groupPath = (id) => `/breathvoice/voice-groups/${encodeURIComponent(id)}`;

export async function listGroups() {
  return (await getJSON("/breathvoice/voice-groups")).voice_groups;
}

export async function uploadGroup(id, zipBlob, overwrite, filename = `${id}.zip`) {
  const form = new FormData();
  form.append("file", zipBlob, filename);
  form.append("voice_group_id", id);
  form.append("overwrite", overwrite ? "true" : "false");
  return (await request("/breathvoice/upload-voice-group", {method: "POST", body: form})).json();
}

/** The URL of a streaming socket, with a single-use token when keys are in use. */
export async function socketURL(voiceId, params) {
  const query = new URLSearchParams(params);
  if (session.key) {
    const minted = await sendJSON("/breathvoice/tokens", "POST", {});
    query.set("token", minted.token);
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const path = `/v1/text-to-speech/${encodeURIComponent(voiceId)}/multi-stream-input`;
  return `${scheme}://${location.host}${path}?${query}`;
}

/**
 * Follow a Server-Sent Events stream with fetch(), so the key travels in the Authorization
 * header (EventSource cannot send one) and never in a URL. Calls onEvent(kind, data) for
 * each event; resolves when the server ends the stream or `signal` aborts it.
 */
export async function followEvents(path, onEvent, signal) {
  const response = await request(path, {signal, headers: {Accept: "text/event-stream"}});
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (error) {
      if (signal && signal.aborted) return;
      throw new ApiError("The progress stream was cut off.", 0, "NETWORK");
    }
    if (chunk.done) return;
    buffer += chunk.value.replace(/\r\n?/g, "\n");
    let cut = buffer.indexOf("\n\n");
    while (cut >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(kind, JSON.parse(data.join("\n")));
      cut = buffer.indexOf("\n\n");
    }
  }
}

/** Save a blob as a file in the user's downloads. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
