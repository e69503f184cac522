// A take's waveform, drawn on a canvas from the decoded audio, with the playhead on it.
import {audioContext} from "./stream.js";

/** Peak levels of `buckets` slices of the audio (0..1). */
export async function peaks(bytes, buckets) {
  const buffer = await audioContext().decodeAudioData(bytes);
  const samples = buffer.getChannelData(0);
  const size = Math.max(1, Math.floor(samples.length / buckets));
  const out = new Float32Array(buckets);
  for (let b = 0; b < buckets; b += 1) {
    let peak = 0;
    const end = Math.min(samples.length, (b + 1) * size);
    for (let i = b * size; i < end; i += 1) {
      const v = Math.abs(samples[i]);
      if (v > peak) peak = v;
    }
    out[b] = peak;
  }
  const top = Math.max(...out, 1e-6);
  return {levels: out.map((v) => v / top), duration: buffer.duration};
}

/** Draw `levels` on `canvas`, the part before `played` (0..1) in the accent colour. */
export function draw(canvas, levels, played = 0) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const styles = getComputedStyle(canvas);
  const done = styles.getPropertyValue("--wave-played").trim() || "#3b5bdb";
  const rest = styles.getPropertyValue("--wave").trim() || "#98a2b3";
  const step = width / levels.length;
  const middle = height / 2;
  for (let i = 0; i < levels.length; i += 1) {
    const bar = Math.max(1, levels[i] * (height - 2));
    ctx.fillStyle = i / levels.length < played ? done : rest;
    ctx.fillRect(i * step, middle - bar / 2, Math.max(1, step - 1), bar);
  }
}

/** Keep a canvas in step with an audio element while it plays; returns a stop function. */
export function follow(canvas, levels, audio) {
  let frame = 0;
  const tick = () => {
    const played = audio.duration ? audio.currentTime / audio.duration : 0;
    draw(canvas, levels, played);
    if (!audio.paused && !audio.ended) frame = requestAnimationFrame(tick);
  };
  const start = () => { cancelAnimationFrame(frame); tick(); };
  audio.addEventListener("play", start);
  audio.addEventListener("seeked", start);
  audio.addEventListener("ended", start);
  start();
  return () => {
    cancelAnimationFrame(frame);
    audio.removeEventListener("play", start);
    audio.removeEventListener("seeked", start);
    audio.removeEventListener("ended", start);
  };
}
