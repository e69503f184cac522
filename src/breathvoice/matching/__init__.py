"""Voice matching: making the engine sound like a group's reference clips.

- :mod:`.jobs`: the background runner (one group at a time, lower priority, progress).
- :mod:`.groups`: matching every emotion of one group and writing what it found.
- :mod:`.enrolment`: matching one clip, from screening the stock voices to the last step.
- :mod:`.analysis`: pitch, pace, level and spectrum of a clip.
- :mod:`.probe`: rendering probe sentences with a candidate voice.
- :mod:`.search`, :mod:`.space`: the candidates, their scores and the search space.
- :mod:`.gradient`, :mod:`.onnx_torch`, :mod:`.speaker_torch`: gradient steps on the timbre
  through torch ports of Kokoro's decoder and of the speaker embedder (optional extra
  ``matching``).
"""
