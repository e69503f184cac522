// Script: import a CSV/TSV (or paste lines) into an editable table whose emotion column
// follows the server's file-name rules as you type; generate selected or all lines as a job
// (followed in job.js). The draft is kept in this browser, the job on the server.
import {groupPath, listGroups, sendJSON} from "../api.js";
import {scriptLines, isScriptFile} from "../csv.js";
import {append, clear, field, h} from "../dom.js";
import {dropZone, errorBox, say} from "../ui.js";
import {jobView} from "./job.js";

const DRAFT = "breathvoice.script.draft";
const TYPING_MS = 200;
const BATCH = 1000;  // file names per question, the server's limit

export async function mount(container) {
  const groups = await listGroups();
  let rows = loadDraft();
  const known = new Map();  // group -> {emotions, default_emotion} from the server's answers
  const timers = new Map();
  const seq = new WeakMap();
  const job = jobView();

  const [groupField, defaultGroup] = field("Voice group for new lines", h("select", {},
    groups.map((g) => h("option", {value: g}, g))));
  const [nameField, jobName] = field("Job name", h("input", {type: "text", maxlength: 200,
    placeholder: "optional"}));
  const [pasteField, paste] = field("Paste lines", h("textarea", {rows: 3,
    placeholder: "filename,text  (or one line of text per line)"}),
  "CSV or TSV with a header row (filename, text, voice_group_id, emotion), or plain lines.");
  const body = h("tbody", {});
  const selectAll = h("input", {type: "checkbox", "aria-label": "Select every line"});
  const message = h("div", {"aria-live": "polite"});
  const counter = h("span", {class: "muted", "aria-live": "polite"});
  const generateSelected = h("button", {type: "button", class: "primary"}, "Generate selected");
  const generateAll = h("button", {type: "button", class: "primary"}, "Generate all");

  function save() {
    localStorage.setItem(DRAFT, JSON.stringify(rows.map(
      ({filename, text, group, emotion, selected}) => ({filename, text, group, emotion, selected}))));
    const chosen = rows.filter((r) => r.selected).length;
    counter.textContent = `${plural(rows.length, "line")}, ${chosen} selected`;
    generateSelected.disabled = !chosen;
    generateAll.disabled = !rows.length;
    selectAll.checked = rows.length > 0 && chosen === rows.length;
  }

  function addLines(lines) {
    const fallback = defaultGroup.value;
    for (const line of lines) {
      rows.push({filename: line.filename, text: line.text, group: line.group || fallback,
        emotion: line.emotion || "", selected: false});
    }
    render();
    pick(rows.slice(rows.length - lines.length));
  }

  async function importFiles(files) {
    const file = files.find(isScriptFile) || files[0];
    if (!file) return;
    const lines = scriptLines(await file.text(), rows.length + 1);
    if (!lines.length) { message.replaceChildren(errorBox(`“${file.name}” has no lines.`)); return; }
    clear(message);
    addLines(lines);
    say(`Imported ${plural(lines.length, "line")} from “${file.name}”.`);
  }

  /** Ask the server which emotion each row's file name picks (a request per group). */
  async function pick(targets) {
    const byGroup = new Map();
    for (const row of targets) {
      const n = (seq.get(row) || 0) + 1;
      seq.set(row, n);
      if (!byGroup.has(row.group)) byGroup.set(row.group, []);
      byGroup.get(row.group).push([row, n]);
    }
    const batches = [...byGroup].flatMap(([group, items]) => Array.from(
      {length: Math.ceil(items.length / BATCH)},
      (_, i) => [group, items.slice(i * BATCH, (i + 1) * BATCH)]));
    await Promise.all(batches.map(async ([group, items]) => {
      let answer = null;
      try {
        answer = await sendJSON(`${groupPath(group)}/select-emotion`, "POST",
          {filenames: items.map(([row]) => row.filename)});
        known.set(group, answer);
      } catch (error) {
        answer = {error};
      }
      items.forEach(([row, n], i) => {
        if (seq.get(row) !== n) return;  // a newer answer is on its way
        row.picked = answer.results ? answer.results[i] : {error: answer.error};
        if (row.view) row.view.showEmotion();
      });
    }));
  }

  function later(row) {
    clearTimeout(timers.get(row));
    timers.set(row, setTimeout(() => pick([row]), TYPING_MS));
  }

  function rowView(row, index) {
    const n = index + 1;
    const select = h("input", {type: "checkbox", "aria-label": `Select line ${n}`,
      checked: row.selected});
    select.addEventListener("change", () => { row.selected = select.checked; save(); });
    const filename = h("input", {type: "text", value: row.filename, spellcheck: false,
      "aria-label": `File name of line ${n}`, class: "mono"});
    filename.addEventListener("input", () => {
      row.filename = filename.value;
      filename.removeAttribute("aria-invalid");
      save();
      later(row);
    });
    const text = h("textarea", {rows: 1, "aria-label": `Text of line ${n}`});
    text.value = row.text;
    text.addEventListener("input", () => { row.text = text.value; save(); });
    const group = h("select", {"aria-label": `Voice group of line ${n}`},
      [...new Set([...groups, row.group])].map((g) => h("option", {value: g}, g)));
    group.value = row.group;
    group.addEventListener("change", () => { row.group = group.value; save(); pick([row]); });
    const emotion = h("select", {"aria-label": `Emotion of line ${n}`});
    const note = h("small", {class: "muted"});
    emotion.addEventListener("change", () => { row.emotion = emotion.value; save(); });
    const remove = h("button", {type: "button", "aria-label": `Remove line ${n}`}, "Remove");
    remove.addEventListener("click", () => { rows.splice(rows.indexOf(row), 1); render(); });
    row.view = {
      filename,
      showEmotion() {
        const picked = row.picked || {};
        const details = known.get(row.group);
        const auto = picked.error ? "auto: unknown group" : `auto: ${picked.emotion || "…"}`;
        append(clear(emotion), [h("option", {value: ""}, auto),
          (details ? details.emotions : []).map((e) => h("option", {value: e}, e))]);
        if (row.emotion && details && !details.emotions.includes(row.emotion)) {
          emotion.append(h("option", {value: row.emotion}, row.emotion));
        }
        emotion.value = row.emotion;
        emotion.dataset.picked = picked.emotion || "";
        const used = picked.reference_emotion;
        note.textContent = !row.emotion && used && used !== picked.emotion
          ? `no ${picked.emotion} clip: the ${used} clip speaks` : "";
      },
    };
    row.view.showEmotion();
    return h("tr", {"data-line": n},
      h("td", {}, select), h("td", {class: "num"}, String(n)),
      h("td", {}, filename), h("td", {}, text), h("td", {}, group),
      h("td", {}, emotion, note), h("td", {}, remove));
  }

  function render() {
    append(clear(body), rows.map(rowView));
    save();
  }

  async function generate(only) {
    const chosen = rows.map((row, i) => [row, i]).filter(([row]) => !only || row.selected);
    if (!chosen.length) return;
    clear(message);
    const lines = chosen.map(([row]) => ({filename: row.filename.trim(), text: row.text,
      voice_group_id: row.group, ...(row.emotion ? {emotion: row.emotion} : {})}));
    generateAll.disabled = generateSelected.disabled = true;
    try {
      const created = await sendJSON("/breathvoice/jobs", "POST",
        {lines, ...(jobName.value.trim() ? {name: jobName.value.trim()} : {})});
      say(`Job started: ${plural(lines.length, "line")}.`);
      await job.open(created.job_id);
    } catch (error) {
      message.replaceChildren(errorBox(error));
      const at = /^lines\[(\d+)\]/.exec(error.message || "");
      const row = at && chosen[Number(at[1])] ? chosen[Number(at[1])][0] : null;
      if (row && row.view) {
        row.view.filename.setAttribute("aria-invalid", "true");
        row.view.filename.focus();
      }
    }
    save();
  }

  selectAll.addEventListener("change", () => {
    rows.forEach((row) => { row.selected = selectAll.checked; });
    render();
  });
  const addPasted = h("button", {type: "button"}, "Add pasted lines");
  addPasted.addEventListener("click", () => {
    const lines = scriptLines(paste.value, rows.length + 1);
    if (!lines.length) { say("Paste some lines first.", "error"); return; }
    addLines(lines);
    paste.value = "";
  });
  const addOne = h("button", {type: "button"}, "Add a line");
  addOne.addEventListener("click", () => {
    addLines([{filename: `line_${String(rows.length + 1).padStart(3, "0")}.wav`, text: ""}]);
    rows[rows.length - 1].view.filename.focus();
  });
  const clearAll = h("button", {type: "button", class: "danger"}, "Clear the table");
  clearAll.addEventListener("click", () => { rows = []; render(); });
  generateSelected.addEventListener("click", () => generate(true));
  generateAll.addEventListener("click", () => generate(false));

  append(container, [
    groups.length ? null : errorBox("There is no voice group yet: add one on the Voice groups screen."),
    h("section", {class: "card", "aria-labelledby": "script-title"},
      h("h3", {id: "script-title"}, "Script lines"),
      h("div", {class: "two"},
        h("div", {}, dropZone("Drop a CSV or TSV script here, or press to choose one",
          ".csv,.tsv,.txt,text/csv,text/tab-separated-values,text/plain", importFiles,
          "Drop a script (CSV or TSV), or choose one")),
        h("div", {}, pasteField, addPasted)),
      h("div", {class: "row"}, groupField, nameField),
      h("div", {class: "table-wrap"}, h("table", {class: "script"},
        h("caption", {class: "sr-only"}, "Lines of the script"),
        h("thead", {}, h("tr", {}, h("th", {scope: "col"}, selectAll),
          ["#", "File name", "Text", "Voice group", "Emotion", ""].map(
            (title) => h("th", {scope: "col"}, title)))),
        body)),
      h("div", {class: "row actions"}, addOne, clearAll, counter, generateSelected, generateAll),
      message),
    job.element]);
  render();
  pick(rows);
  job.resume();
  return () => job.close();
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function loadDraft() {
  try {
    const saved = JSON.parse(localStorage.getItem(DRAFT) || "[]");
    return Array.isArray(saved) ? saved.filter((r) => r && typeof r === "object").map((r) => ({
      filename: String(r.filename || ""), text: String(r.text || ""), group: String(r.group || ""),
      emotion: String(r.emotion || ""), selected: Boolean(r.selected)})) : [];
  } catch {
    return [];
  }
}
