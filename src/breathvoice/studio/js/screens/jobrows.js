// The rows of a job's table: each line with its player, QA verdict, takes and redo.
import {h, seconds} from "../dom.js";
import {draw} from "../waveform.js";

const localPath = (url) => new URL(url, location.href).pathname;

/** The verdict of a take in words: "checking…" until the server's QA has looked at it. */
function verdict(take) {
  if (!take) return h("span", {class: "muted"}, "no take");
  const qa = take.qa;
  if (!qa) return h("span", {class: "qa pending"}, "checking…");
  const reasons = Array.isArray(qa.reasons) ? qa.reasons : [];
  return h("div", {class: `qa ${qa.verdict}`},
    h("strong", {class: `badge ${qa.verdict}`}, qa.verdict),
    reasons.length ? h("ul", {class: "reasons"}, reasons.map((r) => h("li", {}, r))) : null);
}

export const chosenTake = (line) => line.takes.find((t) => t.take === line.chosen_take)
  || line.takes[line.takes.length - 1];

/** One line of the job: file, text, emotion, status, player, QA, takes and redo. */
export function lineRow(line, {waves, listen, choose, redo: redoLine}) {
  const take = chosenTake(line);
  const canvas = h("canvas", {class: "wave", width: 160, height: 36,
    "aria-label": `Waveform of ${line.filename}`, role: "img"});
  const path = take ? localPath(take.audio_url) : "";
  if (waves.has(path)) requestAnimationFrame(() => draw(canvas, waves.get(path)));
  const play = h("button", {type: "button", disabled: !take,
    "aria-label": `Play ${line.filename}`}, "Play");
  play.addEventListener("click", () => listen(line, take, canvas));
  const takes = h("fieldset", {class: "takes"},
    h("legend", {class: "sr-only"}, `Takes of ${line.filename}`),
    line.takes.map((t) => {
      const radio = h("input", {type: "radio", name: `take-${line.line_id}`, value: t.take,
        checked: t.take === (take && take.take), "aria-label": `Use take ${t.take} of ${line.filename}`});
      radio.addEventListener("change", () => choose(line, t.take));
      const hear = h("button", {type: "button", class: "small",
        "aria-label": `Play take ${t.take} of ${line.filename}`}, "▶");
      hear.addEventListener("click", () => listen(line, t, canvas));
      const qa = t.qa ? ` · ${t.qa.verdict}` : "";
      return h("div", {class: "take"}, radio, ` ${t.take} (${seconds(t.duration)}${qa}) `, hear);
    }));
  const redo = h("button", {type: "button", "aria-label": `Redo ${line.filename}`,
    disabled: line.status === "queued" || line.status === "rendering"}, "Redo");
  redo.addEventListener("click", () => redoLine(line));
  const status = line.error ? h("span", {class: "error"}, `${line.status}: ${line.error}`)
    : h("span", {class: `line-status ${line.status}`}, line.status);
  return h("tr", {"data-line": line.line_id, "data-status": line.status},
    h("td", {class: "file"}, line.filename),
    h("td", {class: "text"}, line.text),
    h("td", {}, line.emotion),
    h("td", {}, status),
    h("td", {class: "listen"}, play, canvas),
    h("td", {}, verdict(take)),
    h("td", {}, takes),
    h("td", {}, redo));
}
