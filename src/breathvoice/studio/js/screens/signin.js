// Sign-in: paste a key; it is kept for this tab only.
import {listGroups, session} from "../api.js";
import {field, h} from "../dom.js";
import {errorBox} from "../ui.js";

export function mount(container, {problem, onSignedIn}) {
  const [keyField, input] = field("API key", h("input", {
    type: "password", autocomplete: "off", required: true, spellcheck: false,
  }), "Kept for this browser tab only, until you close it or sign out.");
  const message = h("div", {"aria-live": "polite"});
  if (problem) message.append(errorBox(problem));
  const form = h("form", {class: "card narrow", "aria-labelledby": "signin-title"},
    h("h2", {id: "signin-title"}, "Sign in"),
    h("p", {}, "This server needs an API key. Paste yours to use the studio."),
    keyField,
    h("button", {type: "submit", class: "primary"}, "Sign in"),
    message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    session.key = input.value.trim();
    try {
      await listGroups();
      onSignedIn();
    } catch (error) {
      session.key = "";
      message.append(errorBox(error));
    }
  });
  container.append(form);
  input.focus();
}
