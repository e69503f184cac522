// New voice groups: drop a zip, or drop (or record) one clip per emotion and let the page
// build the zip. Replacing an existing group asks first.
import {uploadGroup} from "../api.js";
import {field, h} from "../dom.js";
import {confirmAction, dropZone, errorBox, say} from "../ui.js";
import {zipSync} from "../../vendor/fflate/fflate.js";
import {recordClip} from "../record.js";

const DEFAULT_EMOTIONS = ["greeting", "B1_B2", "B3_B4", "B5_orgasm"];
const ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9_\\-]{0,63}";
const ID_HINT = "Letters, digits, _ or -, up to 64, starting with a letter or digit.";
const AUDIO = /\.(wav|flac|ogg|mp3)$/i;

function idInput() {
  return h("input", {type: "text", required: true, pattern: ID_PATTERN, title: ID_HINT,
    autocomplete: "off", spellcheck: false});
}

function suggestId(filename) {
  const stem = filename.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9_-]+/g, "_");
  return stem.replace(/^[_-]+/, "").slice(0, 64);
}

async function send(id, blob, filename, {exists, done}, message) {
  message.replaceChildren();
  let overwrite = false;
  if (exists(id)) {
    overwrite = await confirmAction(`A voice group “${id}” already exists. Replace it and its clips?`, "Replace");
    if (!overwrite) return false;
  }
  try {
    const result = await uploadGroup(id, blob, overwrite, filename);
    say(`Voice group “${result.voice_group_id}” saved with ${result.extracted_files.length} clips.`);
    await done();
    return true;
  } catch (error) {
    message.append(errorBox(error));
    return false;
  }
}

function zipForm(options) {
  const [idField, id] = field("Voice group name", idInput(), ID_HINT);
  const chosen = h("p", {class: "muted"}, "No zip chosen yet.");
  const message = h("div", {"aria-live": "polite"});
  const submit = h("button", {type: "submit", class: "primary", disabled: true}, "Upload");
  let file = null;
  const zone = dropZone("Drop a zip here, or press to choose one", ".zip,application/zip",
    (files) => {
      const zip = files.find((f) => /\.zip$/i.test(f.name)) || files[0];
      if (!zip) return;
      file = zip;
      chosen.textContent = `Chosen: ${zip.name} (${Math.round(zip.size / 1024)} KiB)`;
      if (!id.value) id.value = suggestId(zip.name);
      submit.disabled = false;
    }, "Drop a voice group zip, or choose one");
  const form = h("form", {class: "card", "aria-labelledby": "zip-title"},
    h("h3", {id: "zip-title"}, "From a zip"),
    h("p", {class: "muted"}, "One clip per emotion, named like Name_greeting.wav, Name_B1_B2.wav."),
    zone, chosen, idField, submit, message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file) return;
    submit.disabled = true;
    if (await send(id.value.trim(), file, file.name, options, message)) {
      file = null;
      id.value = "";
      chosen.textContent = "No zip chosen yet.";
    } else {
      submit.disabled = false;
    }
  });
  return form;
}

function slotsForm(options) {
  const [idField, id] = field("Voice group name", idInput(), ID_HINT);
  const clips = new Map();
  const slotList = h("ul", {class: "slots"});
  const message = h("div", {"aria-live": "polite"});

  function addSlot(emotion) {
    const name = h("span", {class: "clip muted"}, "no clip");
    const set = (file) => {
      clips.set(emotion, file);
      name.textContent = file.name;
      name.classList.remove("muted");
    };
    const record = h("button", {type: "button", "aria-label": `Record the ${emotion} clip`}, "Record");
    record.addEventListener("click", () => recordClip(record, (file) => set(file)));
    slotList.append(h("li", {"data-emotion": emotion},
      h("strong", {}, emotion),
      dropZone("Drop a clip or choose", "audio/*,.wav,.flac,.ogg,.mp3", (files) => {
        const clip = files.find((f) => AUDIO.test(f.name));
        if (clip) set(clip); else say("Choose a .wav, .flac, .ogg or .mp3 file.", "error");
      }, `Clip for ${emotion}`),
      name, record));
  }
  DEFAULT_EMOTIONS.forEach(addSlot);

  const [extraField, extra] = field("Another emotion", h("input", {type: "text",
    pattern: ID_PATTERN, title: ID_HINT}));
  const addButton = h("button", {type: "button"}, "Add emotion");
  addButton.addEventListener("click", () => {
    const emotion = extra.value.trim();
    if (!emotion || !extra.checkValidity()) { say(ID_HINT, "error"); return; }
    if ([...slotList.children].some((li) => li.dataset.emotion.toLowerCase() === emotion.toLowerCase())) return;
    addSlot(emotion);
    extra.value = "";
  });

  const form = h("form", {class: "card", "aria-labelledby": "slots-title"},
    h("h3", {id: "slots-title"}, "From one clip per emotion"),
    idField, slotList, h("div", {class: "row"}, extraField, addButton),
    h("button", {type: "submit", class: "primary"}, "Build and upload"), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const group = id.value.trim();
    const emotions = [...slotList.children].map((li) => li.dataset.emotion);
    if (!clips.size) { message.replaceChildren(errorBox("Add at least one clip.")); return; }
    const files = {};
    for (const [emotion, file] of clips) {
      const ext = (file.name.match(AUDIO) || [".wav"])[0].toLowerCase();
      files[`${group}_${emotion}${ext}`] = new Uint8Array(await file.arrayBuffer());
    }
    if (emotions.join() !== DEFAULT_EMOTIONS.join()) {
      files["manifest.json"] = new TextEncoder().encode(JSON.stringify({emotions}));
    }
    const blob = new Blob([zipSync(files, {level: 0})], {type: "application/zip"});
    await send(group, blob, `${group}.zip`, options, message);
  });
  return form;
}

/** The "new voice group" section of the groups screen. */
export function creator(options) {
  return h("section", {class: "create", "aria-labelledby": "create-title"},
    h("h3", {id: "create-title"}, "New voice group"),
    h("div", {class: "two"}, zipForm(options), slotsForm(options)));
}
