// A script job as it runs on the server: live progress from its event stream, then per line
// a player with a waveform, the QA verdict, its takes to compare and choose, and redo.
// The job id is remembered in this browser, so reopening the Script screen shows it again.
import {followEvents, getJSON, request, saveBlob, sendJSON} from "../api.js";
import {append, clear, h} from "../dom.js";
import {confirmAction, errorBox, say, sayError} from "../ui.js";
import {follow, peaks} from "../waveform.js";
import {chosenTake, lineRow} from "./jobrows.js";

const LAST_JOB = "breathvoice.script.job";
const ENDED = ["completed", "failed", "cancelled"];
const PAGE = 1000;
const QA_POLL_MS = 2000;
const QA_POLL_MAX_MS = 30_000;
const QA_POLLS = 40;
const BARS = 120;

const jobPath = (id) => `/breathvoice/jobs/${encodeURIComponent(id)}`;
const localPath = (url) => new URL(url, location.href).pathname;

export function jobView() {
  const picker = h("select", {});
  const progress = h("progress", {max: 100, value: 0, "aria-label": "Progress of the job"});
  const state = h("p", {class: "stats", role: "status"});
  const onlyFailed = h("input", {type: "checkbox"});
  const body = h("tbody", {});
  const player = h("audio", {class: "player", controls: true, "aria-label": "Take player"});
  const playing = h("p", {class: "muted", "aria-live": "polite"});
  const cancel = h("button", {type: "button"}, "Cancel job");
  const remove = h("button", {type: "button", class: "danger"}, "Delete job");
  const exporter = h("button", {type: "button", class: "primary"}, "Export pack (zip)");
  const content = h("div", {hidden: true},
    h("div", {class: "row"}, progress, state),
    h("div", {class: "row"}, h("label", {class: "check"}, onlyFailed, " Only lines that failed QA"),
      cancel, remove, exporter),
    h("div", {class: "table-wrap"}, h("table", {class: "lines"},
      h("caption", {class: "sr-only"}, "Lines of the job"),
      h("thead", {}, h("tr", {}, ["File", "Text", "Emotion", "Status", "Listen", "QA",
        "Takes", ""].map((t) => h("th", {scope: "col"}, t)))),
      body)),
    h("div", {class: "row"}, player, playing));
  const element = h("section", {class: "card", "aria-labelledby": "job-title"},
    h("h3", {id: "job-title"}, "Job"),
    h("div", {class: "row"}, h("label", {class: "sr-only", for: "job-picker"}, "Job"), picker),
    h("div", {"aria-live": "polite", class: "job-message"}), content);
  picker.id = "job-picker";
  const message = element.querySelector(".job-message");

  let job = null;
  let lines = [];
  let stream = null;
  let polls = 0;
  let pollTimer = 0;
  let stopFollow = () => {};
  let clipURL = "";
  const waves = new Map();  // audio path -> levels

  async function listJobs(selected) {
    const found = (await getJSON("/breathvoice/jobs")).jobs;
    found.sort((a, b) => b.created_at - a.created_at);
    append(clear(picker), [h("option", {value: ""}, found.length ? "Choose a job…" : "No jobs yet"),
      found.map((j) => h("option", {value: j.job_id},
        `${j.name || j.job_id} · ${j.status} · ${new Date(j.created_at * 1000).toLocaleString()}`))]);
    picker.value = found.some((j) => j.job_id === selected) ? selected : "";
    return found;
  }

  function showJob(data) {
    job = data;
    const pct = Math.round((data.progress || 0) * 100);
    progress.value = pct;
    const c = data.request_counts;
    const eta = data.eta_seconds ? ` · about ${Math.ceil(data.eta_seconds)} s left` : "";
    const failed = c.failed ? ` · ${c.failed} failed` : "";
    const qa = data.qa_counts;
    const checked = qa ? ` · QA: ${qa.ok} ok, ${qa.warn} warn, ${qa.fail} fail`
      + (qa.pending ? `, ${qa.pending} checking` : "") : "";
    state.textContent = `${data.status.replace("_", " ")} · ${c.completed} of ${c.total} lines done · ${pct} %${failed}${eta}${checked}`;
    state.dataset.progress = String(pct);
    state.dataset.status = data.status;
    cancel.hidden = ENDED.includes(data.status);
  }

  async function loadLines() {
    const all = [];
    for (let offset = 0; ; offset += PAGE) {
      const page = await getJSON(`${jobPath(job.job_id)}/lines?offset=${offset}&limit=${PAGE}`);
      all.push(...page.lines);
      if (all.length >= page.total || !page.lines.length) break;
    }
    lines = all;
    renderLines();
    watchQA();
  }

  async function refreshLine(lineId) {
    const index = lines.findIndex((l) => l.line_id === lineId);
    if (index < 0) return loadLines();
    const page = await getJSON(`${jobPath(job.job_id)}/lines?offset=${index}&limit=1`);
    if (page.lines[0] && page.lines[0].line_id === lineId) {
      lines[index] = page.lines[0];
      renderLines();
      watchQA();
    }
    return undefined;
  }

  /** QA runs after a take is made: look again while any chosen take is still being checked. */
  function watchQA() {
    clearTimeout(pollTimer);
    const pending = lines.some((l) => l.takes.length && !chosenTake(l).qa);
    if (!pending || polls >= QA_POLLS || !job) return;
    const wait = Math.min(QA_POLL_MAX_MS, QA_POLL_MS * 1.25 ** polls);
    polls += 1;
    pollTimer = setTimeout(() => loadLines().catch(() => {}), wait);
  }

  function renderLines() {
    const shown = onlyFailed.checked
      ? lines.filter((l) => l.takes.length && chosenTake(l).qa && chosenTake(l).qa.verdict === "fail")
      : lines;
    append(clear(body), shown.map((line) => lineRow(line, {waves, listen, choose, redo: redoLine})));
    if (!shown.length) {
      body.append(h("tr", {}, h("td", {colspan: 8, class: "muted"},
        onlyFailed.checked ? "No line failed QA." : "No lines.")));
    }
  }

  async function listen(line, take, canvas) {
    try {
      const path = localPath(take.audio_url);
      const blob = await (await request(path)).blob();
      if (!waves.has(path)) waves.set(path, (await peaks(await blob.arrayBuffer(), BARS)).levels);
      stopFollow();
      if (clipURL) URL.revokeObjectURL(clipURL);
      clipURL = URL.createObjectURL(blob);
      player.src = clipURL;
      player.dataset.line = line.line_id;
      player.dataset.take = String(take.take);
      playing.textContent = `Playing ${line.filename}, take ${take.take}`;
      stopFollow = follow(canvas, waves.get(path), player);
      await player.play();
    } catch (error) { sayError(error); }
  }

  async function choose(line, take) {
    try {
      const updated = await sendJSON(`${jobPath(job.job_id)}/lines/${encodeURIComponent(line.line_id)}/choose`, "POST", {take});
      lines[lines.indexOf(line)] = updated;
      say(`${line.filename}: take ${take} goes in the pack.`);
    } catch (error) { sayError(error); }
    renderLines();
    watchQA();
  }

  async function redoLine(line) {
    try {
      const updated = await sendJSON(`${jobPath(job.job_id)}/lines/${encodeURIComponent(line.line_id)}/redo`, "POST", {});
      lines[lines.indexOf(line)] = updated;
      renderLines();
      say(`${line.filename}: a new take is being made.`);
      followStream();
    } catch (error) { sayError(error); }
  }

  /** Follow the job's event stream until the job ends (a redo reopens it). */
  function followStream() {
    if (stream || !job) return;
    const controller = new AbortController();
    stream = controller;
    const id = job.job_id;
    followEvents(`${jobPath(id)}/events`, (kind, data) => {
      if (!job || job.job_id !== id) return;
      if (kind === "status") showJob(data);
      else if (kind === "line" || kind === "qa") refreshLine(data.line_id).catch(sayError);
    }, controller.signal).then(async () => {
      if (stream !== controller) return;
      stream = null;
      showJob(await getJSON(jobPath(id)));
      await loadLines();
      await listJobs(id);
      if (!ENDED.includes(job.status)) setTimeout(followStream, 1000);
    }).catch((error) => {
      if (stream !== controller) return;
      stream = null;
      if (controller.signal.aborted) return;
      message.replaceChildren(errorBox(error));
      setTimeout(followStream, 3000);
    });
  }

  function stopStream() {
    if (stream) { const s = stream; stream = null; s.abort(); }
    clearTimeout(pollTimer);
  }

  async function open(id) {
    stopStream();
    clear(message);
    polls = 0;
    try {
      showJob(await getJSON(jobPath(id)));
      localStorage.setItem(LAST_JOB, id);
      content.hidden = false;
      await listJobs(id);
      await loadLines();
      if (!ENDED.includes(job.status)) followStream();
    } catch (error) {
      job = null;
      content.hidden = true;
      if (error.status === 404) localStorage.removeItem(LAST_JOB);
      message.replaceChildren(errorBox(error));
    }
  }

  picker.addEventListener("change", () => { if (picker.value) open(picker.value); });
  onlyFailed.addEventListener("change", renderLines);
  cancel.addEventListener("click", async () => {
    try { showJob(await sendJSON(`${jobPath(job.job_id)}/cancel`, "POST", {})); } catch (error) { sayError(error); }
  });
  remove.addEventListener("click", async () => {
    if (!await confirmAction(`Delete the job “${job.name || job.job_id}” and all its audio?`, "Delete")) return;
    try {
      stopStream();
      await request(jobPath(job.job_id), {method: "DELETE"});
      localStorage.removeItem(LAST_JOB);
      job = null;
      content.hidden = true;
      await listJobs("");
    } catch (error) { sayError(error); }
  });
  exporter.addEventListener("click", async () => {
    exporter.disabled = true;
    try {
      const blob = await (await request(`${jobPath(job.job_id)}/archive`)).blob();
      saveBlob(blob, `${job.job_id}.zip`);
      say("The pack is in your downloads.");
    } catch (error) { sayError(error); }
    exporter.disabled = false;
  });

  return {
    element,
    open,
    /** Show the job this browser last opened (or the newest one), as it is on the server. */
    async resume() {
      try {
        const remembered = localStorage.getItem(LAST_JOB) || "";
        const found = await listJobs(remembered);
        const id = found.some((j) => j.job_id === remembered) ? remembered : found[0]?.job_id;
        if (id) await open(id);
      } catch (error) { message.replaceChildren(errorBox(error)); }
    },
    close() {
      stopStream();
      stopFollow();
      player.pause();
      job = null;
      if (clipURL) URL.revokeObjectURL(clipURL);
    },
  };
}
