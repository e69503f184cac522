// Messages in words, and confirmations.
import {h} from "./dom.js";

const statusEl = () => document.getElementById("status");
let timer = 0;

/** Show a message to the user; kind is "error" or "info". */
export function say(message, kind = "info") {
  const el = statusEl();
  el.textContent = message;
  el.className = `status ${kind}`;
  el.hidden = false;
  clearTimeout(timer);
  if (kind !== "error") timer = setTimeout(() => { el.hidden = true; }, 6000);
}

export function sayError(error) {
  say(describe(error), "error");
}

export function describe(error) {
  if (error && error.message) return error.message;
  return String(error || "Something went wrong");
}

/** Ask before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(question, okLabel = "OK") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = question;
  document.getElementById("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), {once: true});
  });
}

/** A drop target that also opens a file picker; onFiles gets an array of File. */
export function dropZone(text, accept, onFiles, label) {
  const picker = h("input", {type: "file", accept, class: "sr-only", tabindex: -1,
    "aria-hidden": "true"});
  picker.addEventListener("change", () => { onFiles([...picker.files]); picker.value = ""; });
  const zone = h("div", {class: "drop", role: "button", tabindex: 0, "aria-label": label}, text);
  zone.addEventListener("click", () => picker.click());
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); }
  });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...(e.dataTransfer?.files || [])]);
  });
  return h("div", {}, zone, picker);
}

/** An inline error box inside a screen. */
export function errorBox(error) {
  return h("p", {class: "error", role: "alert"}, describe(error));
}

window.addEventListener("error", (event) => say(`Unexpected error: ${event.message}`, "error"));
window.addEventListener("unhandledrejection", (event) => sayError(event.reason));
