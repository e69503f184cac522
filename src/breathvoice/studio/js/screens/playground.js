// Playground: type text, pick a group and an emotion, hear it stream as it arrives. Each
// speaker is its own context; speakers of one group share one socket and speak at once.
import {getJSON, groupPath, listGroups} from "../api.js";
import {append, clear, field, h} from "../dom.js";
import {errorBox, sayError} from "../ui.js";
import {Connection, Track, audioContext} from "../stream.js";

const SAMPLE = "Hello! This is my voice, streaming as it is made.";

export async function mount(container) {
  const groups = await listGroups();
  if (!groups.length) {
    container.append(errorBox("There is no voice group yet: add one on the Voice groups screen."));
    return undefined;
  }
  const connections = new Map();
  const connection = (id) => {
    if (!connections.has(id)) connections.set(id, new Connection(id));
    return connections.get(id);
  };
  const lanes = h("div", {class: "lanes"});
  let count = 0;
  let frame = 0;
  const timeline = [];

  function highlightLoop() {
    const now = audioContext().currentTime;
    for (let i = timeline.length - 1; i >= 0; i -= 1) {
      const event = timeline[i];
      if (event.at <= now) {
        event.lane.mark(event.index);
        timeline.splice(i, 1);
      }
    }
    frame = requestAnimationFrame(highlightLoop);
  }

  function addLane(initial) {
    count += 1;
    const n = count;
    const [textField, text] = field(`Text for speaker ${n}`, h("textarea", {rows: 3}));
    text.value = initial;
    const [groupField, group] = field("Voice group", h("select", {},
      groups.map((g) => h("option", {value: g}, g))));
    const [emotionField, emotion] = field("Emotion", h("select", {}));
    const speak = h("button", {type: "button", class: "primary"}, "Speak");
    const stop = h("button", {type: "button", disabled: true}, "Stop");
    const stats = h("p", {class: "stats", "aria-live": "polite"}, "Not spoken yet.");
    const spoken = h("p", {class: "spoken", "aria-label": "Spoken text"});
    let spans = [];
    let current = null;
    let track = null;
    let runs = 0;

    const lane = {
      mark(index) {
        spans.forEach((s, i) => s.classList.toggle("now", i === index));
      },
    };

    async function loadEmotions() {
      try {
        const details = await getJSON(groupPath(group.value));
        append(clear(emotion), [h("option", {value: ""}, `(from the group: ${details.default_emotion})`),
          details.available_emotions.map((e) => h("option", {value: e}, e))]);
      } catch (error) { sayError(error); }
    }
    group.addEventListener("change", loadEmotions);
    loadEmotions();

    function finish(message, kind = "error") {
      speak.disabled = false;
      stop.disabled = true;
      if (message) stats.append(h("span", {class: kind}, ` ${message}`));
      current = null;
    }

    speak.addEventListener("click", async () => {
      const said = text.value.trim();
      if (!said) { stats.textContent = "Type something to say first."; return; }
      if (track) track.stop();
      track = new Track();
      runs += 1;
      const contextId = `speaker${n}-${runs}`;
      const conn = connection(group.value);
      const chars = Array.from(said);
      spans = chars.map((c) => h("span", {}, c));
      append(clear(spoken), spans);
      let cursor = 0;
      let chunks = 0;
      let seconds = 0;
      let ttfa = null;
      const sent = performance.now();
      current = {conn, contextId};
      speak.disabled = true;
      stop.disabled = false;
      stats.textContent = "Waiting for audio…";
      stats.removeAttribute("data-ttfa");
      const handlers = {
        onAudio(bytes, alignment) {
          if (ttfa === null) {
            ttfa = Math.round(performance.now() - sent);
            stats.dataset.ttfa = String(ttfa);
          }
          const {start, duration} = track.play(bytes);
          chunks += 1;
          seconds += duration;
          stats.dataset.chunks = String(chunks);
          stats.textContent = `First audio after ${ttfa} ms · ${chunks} chunks, ${seconds.toFixed(1)} s of audio`;
          if (!alignment) return;
          alignment.chars.forEach((c, i) => {
            if (!c.trim()) return;
            const limit = Math.min(chars.length, cursor + 12);
            for (let j = cursor; j < limit; j += 1) {
              if (chars[j].toLowerCase() === c.toLowerCase()) {
                timeline.push({lane, index: j, at: start + alignment.charStartTimesMs[i] / 1000});
                cursor = j + 1;
                break;
              }
            }
          });
        },
        onDone() {
          stats.dataset.done = "true";
          finish("· done", "muted");
        },
        onError(message) { finish(`· ${message}`); },
      };
      try {
        await conn.speak(contextId, said, emotion.value, handlers);
      } catch (error) {
        finish(` ${error.message}`);
      }
    });
    stop.addEventListener("click", () => {
      if (current) current.conn.stop(current.contextId);
      if (track) track.stop();
      finish("· stopped", "muted");
    });

    lanes.append(h("section", {class: "card lane", "aria-label": `Speaker ${n}`},
      h("h3", {}, `Speaker ${n}`), textField,
      h("div", {class: "row"}, groupField, emotionField),
      h("div", {class: "row"}, speak, stop), stats, spoken));
  }

  const more = h("button", {type: "button"}, "Add a second speaker");
  more.addEventListener("click", () => {
    addLane("And I can talk at the same time, on the same connection.");
    if (count >= 2) more.remove();
  });
  addLane(SAMPLE);
  container.append(h("p", {class: "muted"},
    "Audio streams over the multi-context WebSocket as it is made; the character being spoken is highlighted."),
    lanes, more);
  frame = requestAnimationFrame(highlightLoop);
  return () => {
    cancelAnimationFrame(frame);
    connections.forEach((c) => c.close());
  };
}
