// Recording a clip with the microphone, saved as a 16-bit WAV file.

let active = null;

function wav(samples, rate) {
  const data = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (at, s) => [...s].forEach((c, i) => data.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF"); data.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); data.setUint32(16, 16, true); data.setUint16(20, 1, true);
  data.setUint16(22, 1, true); data.setUint32(24, rate, true); data.setUint32(28, rate * 2, true);
  data.setUint16(32, 2, true); data.setUint16(34, 16, true); text(36, "data");
  data.setUint32(40, samples.length * 2, true);
  samples.forEach((v, i) => data.setInt16(44 + i * 2, Math.max(-1, Math.min(1, v)) * 0x7fff, true));
  return new Blob([data], {type: "audio/wav"});
}

/** Press once to start, again to stop; onClip receives a File named recording.wav. */
export async function recordClip(button, onClip) {
  if (active) { active.stop(); return; }
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error("This browser cannot record here (recording needs https or localhost).");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: true});
  } catch {
    throw new Error("The microphone is not available, or permission was refused.");
  }
  const recorder = new MediaRecorder(stream);
  const parts = [];
  const label = button.textContent;
  recorder.ondataavailable = (e) => parts.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    active = null;
    button.textContent = label;
    button.setAttribute("aria-pressed", "false");
    const context = new AudioContext();
    const decoded = await context.decodeAudioData(await new Blob(parts).arrayBuffer());
    await context.close();
    onClip(new File([wav(decoded.getChannelData(0), decoded.sampleRate)], "recording.wav",
      {type: "audio/wav"}));
  };
  active = recorder;
  recorder.start();
  button.textContent = "Stop recording";
  button.setAttribute("aria-pressed", "true");
}
