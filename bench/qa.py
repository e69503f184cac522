"""Does the take checker tell a right take from a wrong one? And how fast is it?

Renders 40 lines (20 Chinese, 20 English) with the embedded Kokoro engine's default voice,
then checks each take twice: against its own text (the truth: the verdict should be
``ok``) and against another line of the same language and similar length (it should be
``fail``). The error thresholds were read off the error rates of a first run on these
lines (see ``Thresholds``): they sit in the wide gap between the two, but these lines are
not unseen. Prints the agreement table, the error rates behind it, and the seconds of
checking per second of audio (wall clock, one check at a time, on whatever else the
machine is doing).

    python bench/qa.py    # BENCH_QA_THREADS (2) and BENCH_QA_BEAM (1) set the recogniser
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from breathvoice.engines.base import SynthesisOptions
from breathvoice.engines.kokoro.engine import KokoroEngine
from breathvoice.qa import Recogniser, check_take

LINES = {
    "zh": [
        "今天早上我在公园里看到一只很大的白鸟。",
        "请把桌子上的那本蓝色的书递给我。",
        "这家餐厅的饺子非常好吃，我们下次再来。",
        "火车晚点了半个小时，大家都在站台上等。",
        "她每天晚上都会给家里的花浇水。",
        "我们明天一早出发去山上看日出。",
        "这个问题很难，我需要再想一想。",
        "外面下着大雨，记得带上你的雨伞。",
        "小猫躲在沙发下面，怎么叫都不出来。",
        "图书馆星期一不开门，你改天再去吧。",
        "他的中文说得越来越好了。",
        "冬天快到了，山里的树叶都变黄了。",
        "请在门口换鞋，地板刚刚擦过。",
        "我弟弟最喜欢的运动是游泳和跑步。",
        "这条路晚上很安静，几乎没有车经过。",
        "老师说明天的考试会比上次简单一些。",
        "妈妈做的红烧鱼是全家人的最爱。",
        "飞机就要起飞了，请系好安全带。",
        "我把钥匙忘在办公室里了。",
        "河边的柳树在风中轻轻地摇着。",
    ],
    "en": [
        "The old lighthouse has guided ships home for over a century.",
        "Please close the window before you leave the room.",
        "My sister bought fresh bread at the corner bakery this morning.",
        "The train to the coast leaves in twenty minutes.",
        "He forgot his umbrella, so he arrived soaking wet.",
        "We planted tomatoes and beans in the garden last spring.",
        "The museum is closed on Mondays and public holidays.",
        "Could you tell me where the nearest post office is?",
        "The children laughed as the puppy chased its own tail.",
        "A quiet evening with a good book is all I need.",
        "The meeting was moved to Thursday afternoon.",
        "She practises the piano for an hour every day.",
        "Snow covered the mountain roads overnight.",
        "The recipe calls for two eggs and a cup of milk.",
        "Our flight was delayed because of the storm.",
        "The little boat drifted slowly across the calm lake.",
        "Turn left at the bridge and follow the river.",
        "He keeps his old letters in a wooden box.",
        "The market sells the sweetest peaches in town.",
        "Remember to water the plants while I am away.",
    ],
}


def wrong_texts(lines: list[str]) -> list[str]:
    """For each line, another line of about the same length (its neighbour by length)."""
    order = sorted(range(len(lines)), key=lambda i: len(lines[i]))
    wrong = [""] * len(lines)
    for rank, index in enumerate(order):
        other = order[rank + 1] if rank + 1 < len(order) else order[rank - 1]
        wrong[index] = lines[other]
    return wrong


def main() -> None:
    engine = KokoroEngine()
    recogniser = Recogniser(threads=int(os.environ.get("BENCH_QA_THREADS", "2")),
                            beam_size=int(os.environ.get("BENCH_QA_BEAM", "1")))
    recogniser.load()
    rate = engine.sample_rate
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs, recogniser threads {recogniser.threads}, "
          f"beam {recogniser.beam_size}")
    header = (f"{'lang':<5}{'lines':>6}{'true→ok':>9}{'wrong→fail':>12}{'true err':>10}"
              f"{'wrong err':>11}{'audio s':>9}{'check s':>9}{'check/audio':>13}")
    rows, misses = [], []
    for language, lines in LINES.items():
        true_ok = wrong_fail = 0
        true_err, wrong_err, audio_s, check_s = [], [], 0.0, 0.0
        for text, wrong in zip(lines, wrong_texts(lines), strict=True):
            chunks = engine.synthesize(text, engine.default_voice(),
                                       SynthesisOptions(language=language))
            samples = np.concatenate([chunk.samples for chunk in chunks])
            started = time.perf_counter()
            right = check_take(samples, rate, text, language, recogniser)
            check_s += time.perf_counter() - started
            audio_s += len(samples) / rate
            other = check_take(samples, rate, wrong, language, recogniser)
            true_ok += right.verdict == "ok"
            wrong_fail += other.verdict == "fail"
            true_err.append(right.error_rate)
            wrong_err.append(other.error_rate)
            if right.verdict != "ok":
                misses.append(f"  true  {right.verdict}: {text} | heard {right.heard} | "
                              f"{'; '.join(right.reasons)}")
            if other.verdict != "fail":
                misses.append(f"  wrong {other.verdict}: {wrong} | heard {other.heard}")
        rows.append(f"{language:<5}{len(lines):>6}{true_ok:>9}{wrong_fail:>12}"
                    f"{statistics.mean(true_err):>10.3f}{min(wrong_err):>11.3f}"
                    f"{audio_s:>9.1f}{check_s:>9.1f}{check_s / audio_s:>13.3f}")
    print(header)
    print("\n".join(rows))
    print("true err: mean error rate against the true text (CER zh, WER en); "
          "wrong err: the lowest against a wrong text")
    if misses:
        print("disagreements:")
        print("\n".join(misses))
    recogniser.close()


if __name__ == "__main__":
    main()
