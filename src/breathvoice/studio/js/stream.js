// The multi-context WebSocket (ElevenLabs' wire protocol) and playback of its PCM audio.
import {socketURL} from "./api.js";

export const RATE = 24000;
const PARAMS = {output_format: `pcm_${RATE}`, sync_alignment: "true", inactivity_timeout: "60"};

/** One socket to one voice group; many contexts speak on it at once. */
export class Connection {
  constructor(voiceId) {
    this.voiceId = voiceId;
    this.socket = null;
    this.opening = null;
    this.contexts = new Map();
  }

  async open() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) return;
    if (!this.opening) {
      this.opening = (async () => {
        const socket = new WebSocket(await socketURL(this.voiceId, PARAMS));
        socket.addEventListener("message", (e) => this.receive(e.data));
        socket.addEventListener("close", (e) => this.closed(e));
        await new Promise((resolve, reject) => {
          socket.addEventListener("open", resolve, {once: true});
          socket.addEventListener("close", () => reject(new Error(
            "The streaming connection was refused or closed.")), {once: true});
        });
        this.socket = socket;
      })().finally(() => { this.opening = null; });
    }
    await this.opening;
  }

  /** Speak text in a new context; handlers: onAudio(bytes, alignment), onDone(), onError(text). */
  async speak(contextId, text, emotion, handlers) {
    await this.open();
    this.contexts.set(contextId, handlers);
    const first = {text: `${text} `, context_id: contextId};
    if (emotion) first.emotion = emotion;
    this.send(first);
    this.send({context_id: contextId, flush: true});
    this.send({context_id: contextId, close_context: true});
  }

  stop(contextId) {
    if (!this.contexts.delete(contextId)) return;
    if (this.socket?.readyState === WebSocket.OPEN) {
      this.send({context_id: contextId, close_context: true});
    }
  }

  send(message) { this.socket.send(JSON.stringify(message)); }

  receive(raw) {
    let message;
    try { message = JSON.parse(raw); } catch { return; }
    const id = message.contextId ?? message.context_id;
    const handlers = id ? this.contexts.get(id) : null;
    if (message.error) {
      const text = message.message || message.error;
      const targets = handlers ? [handlers] : [...this.contexts.values()];
      targets.forEach((h) => h.onError(text));
      if (handlers) this.contexts.delete(id);
      return;
    }
    if (!handlers) return;
    if (message.audio) {
      const binary = atob(message.audio);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
      handlers.onAudio(bytes, message.alignment || null);
    }
    if (message.isFinal ?? message.is_final) {
      this.contexts.delete(id);
      handlers.onDone();
    }
  }

  closed(event) {
    this.socket = null;
    const reason = event.reason ? `: ${event.reason}` : "";
    for (const handlers of this.contexts.values()) {
      handlers.onError(`The streaming connection closed (${event.code}${reason}).`);
    }
    this.contexts.clear();
  }

  close() { this.socket?.close(1000); }
}

let shared = null;
/** The page's one AudioContext (created on first use, after a click). */
export function audioContext() {
  if (!shared) shared = new AudioContext({sampleRate: RATE});
  if (shared.state === "suspended") shared.resume();
  return shared;
}

/** Plays one context's chunks back to back; returns each chunk's start time. */
export class Track {
  constructor() {
    this.context = audioContext();
    this.next = 0;
    this.sources = new Set();
  }

  play(bytes) {
    const count = Math.floor(bytes.length / 2);
    const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
    const buffer = this.context.createBuffer(1, Math.max(1, count), RATE);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < count; i += 1) channel[i] = view.getInt16(i * 2, true) / 32768;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    const start = Math.max(this.next, this.context.currentTime + 0.05);
    source.start(start);
    this.sources.add(source);
    source.onended = () => this.sources.delete(source);
    this.next = start + buffer.duration;
    return {start, duration: buffer.duration};
  }

  stop() {
    this.sources.forEach((s) => { try { s.stop(); } catch { /* already ended */ } });
    this.sources.clear();
    this.next = 0;
  }
}
