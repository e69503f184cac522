"""The embedded engine, Kokoro-82M on onnxruntime (or OpenVINO, a setting).

- :mod:`.engine`: :class:`~breathvoice.engines.kokoro.engine.KokoroEngine`, the
  :class:`~breathvoice.engines.base.Engine` the server speaks with.
- :mod:`.call`: one model call, a window of phonemes in one voice, cancellable.
- :mod:`.model`: loading the int8 ONNX model from the installed packages, in memory.
- :mod:`.int8_gemm`: its int8 convolutions as int8 matrix products onnxruntime runs on
  the CPU's dot-product instructions (same output, about twice as fast).
- :mod:`.openvino_session`: the same graph on OpenVINO, its int8 convolutions in bfloat16
  (``BREATHVOICE_ENGINE_RUNTIME``).
- :mod:`.controls`: the inputs added to the graph (pitch, per-layer timbre) and the tone
  correction applied to each chunk of a matched voice.
- :mod:`.text`, :mod:`.g2p`: sentence and clause cuts, text to phonemes (zh, en, ja).
- :mod:`.alignment`: per-character timing from the model's token durations.
"""
