// Keys (admin): create with scope, quota and concurrency; see usage; revoke.
import {getJSON, request, sendJSON, session} from "../api.js";
import {clear, field, h} from "../dom.js";
import {confirmAction, errorBox, say, sayError} from "../ui.js";

const count = (n) => (n === null || n === undefined ? "no limit" : n.toLocaleString());

export function mount(container, {refreshChrome}) {
  const table = h("div", {class: "table-wrap", "aria-live": "polite"});
  const secret = h("div", {"aria-live": "polite"});
  const [nameField, name] = field("Name", h("input", {type: "text", maxlength: 100}));
  const [scopeField, scope] = field("Scope", h("select", {},
    h("option", {value: "synthesize"}, "synthesize: speak only"),
    h("option", {value: "admin"}, "admin: also manage keys and voice groups")));
  const [quotaField, quota] = field("Character quota", h("input", {type: "number", min: 0,
    placeholder: "no limit"}));
  const [concField, conc] = field("Requests at once", h("input", {type: "number", min: 1,
    placeholder: "no limit"}));
  const message = h("div", {"aria-live": "polite"});
  const form = h("form", {class: "card", "aria-labelledby": "newkey-title"},
    h("h3", {id: "newkey-title"}, "New key"),
    session.keysRequired ? null : h("p", {class: "warning"},
      "This server has no key yet. Creating one turns on sign-in: from then on every API call needs a key. Make the first one an admin key; you are signed in with it."),
    h("div", {class: "row"}, nameField, scopeField, quotaField, concField),
    h("button", {type: "submit", class: "primary"}, "Create key"), message, secret);
  if (!session.keysRequired) scope.value = "admin";

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(message);
    clear(secret);
    const body = {scope: scope.value, name: name.value.trim()};
    if (quota.value !== "") body.char_quota = Number(quota.value);
    if (conc.value !== "") body.max_concurrent = Number(conc.value);
    try {
      const created = await sendJSON("/breathvoice/keys", "POST", body);
      const shown = h("input", {type: "text", readonly: true, value: created.key,
        "aria-label": "The new key"});
      secret.append(h("div", {class: "secret"},
        h("p", {}, "Copy this key now: it is not shown again."), shown));
      if (!session.keysRequired && created.info.scope === "admin") {
        session.key = created.key;
        session.keysRequired = true;
        refreshChrome();
      }
      form.reset();
      say(`Key ${created.info.id} created.`);
      await refresh();
      shown.select();
    } catch (error) { message.append(errorBox(error)); }
  });

  async function revoke(info) {
    if (!await confirmAction(`Revoke key “${info.name || info.id}” (${info.starts_with}…)? Its next request will be refused.`, "Revoke")) return;
    try {
      await request(`/breathvoice/keys/${encodeURIComponent(info.id)}`, {method: "DELETE"});
      say(`Key ${info.id} revoked.`);
      await refresh();
    } catch (error) { sayError(error); }
  }

  async function refresh() {
    try {
      const {keys} = await getJSON("/breathvoice/keys?include_revoked=true");
      const rows = keys.map((k) => h("tr", {class: k.revoked ? "revoked" : ""},
        h("th", {scope: "row"}, k.name || k.id), h("td", {}, `${k.starts_with}…`),
        h("td", {}, k.scope),
        h("td", {}, `${k.chars_used.toLocaleString()} of ${count(k.char_quota)}`),
        h("td", {}, count(k.max_concurrent)), h("td", {}, k.created_at.replace("T", " ")),
        h("td", {}, k.revoked ? `revoked ${k.revoked_at.replace("T", " ")}`
          : h("button", {type: "button", class: "danger", onclick: () => revoke(k),
            "aria-label": `Revoke key ${k.name || k.id}`}, "Revoke"))));
      clear(table).append(keys.length ? h("table", {},
        h("caption", {class: "sr-only"}, "API keys"),
        h("thead", {}, h("tr", {}, ["Name", "Starts with", "Scope", "Characters used",
          "At once", "Created", ""].map((t) => h("th", {scope: "col"}, t)))),
        h("tbody", {}, rows)) : h("p", {class: "muted"}, "No keys yet."));
    } catch (error) { clear(table).append(errorBox(error)); }
  }

  container.append(form, h("h3", {}, "Keys"), table);
  refresh();
}
