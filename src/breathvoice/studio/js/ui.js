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

/** An inline error box inside a screen. */
export function errorBox(error) {
  return h("p", {class: "error", role: "alert"}, describe(error));
}

window.addEventListener("error", (event) => say(`Unexpected error: ${event.message}`, "error"));
window.addEventListener("unhandledrejection", (event) => sayError(event.reason));
