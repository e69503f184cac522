// Voice groups: each group's emotions, clips to audition, matching progress, and the voice
// that speaks now; new groups from a zip or one clip per emotion (see create.js).
import {getJSON, groupPath, listGroups, request, session} from "../api.js";
import {clear, h} from "../dom.js";
import {confirmAction, errorBox, say, sayError} from "../ui.js";
import {creator} from "./create.js";

const POLL_MS = 2000;

export function mount(container) {
  const list = h("div", {class: "groups", "aria-live": "polite", "aria-busy": "true"});
  const player = new Audio();
  let clipURL = "";
  let playing = null;
  let timer = 0;
  let known = [];

  async function audition(button, id, emotion) {
    if (playing === button) { stopClip(); return; }
    stopClip();
    try {
      const blob = await (await request(`${groupPath(id)}/references/${encodeURIComponent(emotion)}`)).blob();
      clipURL = URL.createObjectURL(blob);
      player.src = clipURL;
      playing = button;
      button.textContent = "Stop";
      button.setAttribute("aria-pressed", "true");
      await player.play();
      button.dataset.played = "true";
    } catch (error) {
      stopClip();
      sayError(error);
    }
  }

  function stopClip() {
    player.pause();
    if (playing) {
      playing.textContent = "Play";
      playing.setAttribute("aria-pressed", "false");
    }
    playing = null;
    if (clipURL) URL.revokeObjectURL(clipURL);
    clipURL = "";
  }
  player.addEventListener("ended", stopClip);

  async function remove(id) {
    if (!await confirmAction(`Delete the voice group “${id}” and all its clips? This cannot be undone.`, "Delete")) return;
    try {
      await request(groupPath(id), {method: "DELETE"});
      say(`Voice group “${id}” deleted.`);
      await refresh();
    } catch (error) { sayError(error); }
  }

  function card(details) {
    const id = details.voice_group_id;
    const enrolment = details.enrolment || {};
    const rows = details.available_emotions.map((emotion) => {
      const cond = (details.conditioning || {})[emotion] || {};
      const voice = cond.method === "matched" || cond.method === "matched_prosody" ? "matched"
        : cond.stock_voice ? `stock (${cond.stock_voice})` : (cond.method || "");
      const play = h("button", {type: "button", "aria-pressed": "false",
        "aria-label": `Play the ${emotion} clip of ${id}`}, "Play");
      play.addEventListener("click", () => audition(play, id, emotion));
      return h("tr", {},
        h("th", {scope: "row"}, emotion),
        h("td", {class: "file"}, details.reference_files[emotion]),
        h("td", {}, voice),
        h("td", {}, play));
    });
    const missing = (details.emotions || []).filter((e) => !details.available_emotions.includes(e));
    const article = h("article", {class: "card group", "data-group": id, "aria-label": `Voice group ${id}`},
      h("header", {class: "row"},
        h("h3", {}, id),
        h("span", {class: `badge ${details.status}`}, details.status),
        session.isAdmin ? h("button", {type: "button", class: "danger",
          "aria-label": `Delete voice group ${id}`, onclick: () => remove(id)}, "Delete") : null),
      matching(enrolment),
      h("div", {class: "table-wrap"}, h("table", {},
        h("caption", {class: "sr-only"}, `Reference clips of ${id}`),
        h("thead", {}, h("tr", {},
          h("th", {scope: "col"}, "Emotion"), h("th", {scope: "col"}, "Clip"),
          h("th", {scope: "col"}, "Voice now"), h("th", {scope: "col"}, "Audition"))),
        h("tbody", {}, rows))),
      missing.length ? h("p", {class: "muted"}, `No clip yet for: ${missing.join(", ")}`) : null);
    return article;
  }

  function matching(enrolment) {
    const status = enrolment.status || "off";
    if (status === "enrolling") {
      const pct = Math.round((enrolment.progress || 0) * 100);
      return h("div", {class: "matching"},
        h("label", {}, `Matching the voice to its clips: ${pct}%`,
          h("progress", {max: 100, value: pct})),
        h("p", {class: "muted"}, "The nearest stock voice speaks until matching ends."));
    }
    const method = enrolment.method || "stock";
    const similarity = typeof enrolment.similarity === "number"
      ? `, similarity ${enrolment.similarity.toFixed(2)}` : "";
    const what = status === "failed" ? "Matching failed; a stock voice speaks"
      : status === "off" ? `Speaks with a ${method} voice (matching is off)`
        : `Speaks with the ${method} voice${similarity}`;
    return h("p", {class: "matching"}, what);
  }

  async function refresh() {
    clearTimeout(timer);
    list.setAttribute("aria-busy", "true");
    try {
      known = await listGroups();
      const details = await Promise.all(known.map((id) => getJSON(groupPath(id))));
      clear(list);
      if (!details.length) list.append(h("p", {class: "muted"}, "No voice groups yet. Add one below."));
      for (const d of details) list.append(card(d));
      if (details.some((d) => d.enrolment && d.enrolment.status === "enrolling")) {
        timer = setTimeout(refresh, POLL_MS);
      }
    } catch (error) {
      clear(list).append(errorBox(error));
    }
    list.setAttribute("aria-busy", "false");
  }

  container.append(h("h3", {id: "groups-title", class: "sr-only"}, "Your voice groups"), list);
  if (session.isAdmin) container.append(creator({exists: (id) => known.includes(id), done: refresh}));
  refresh();
  return () => { clearTimeout(timer); stopClip(); };
}
