"""Server settings, read from the environment with the ``BREATHVOICE_`` prefix.

Build them with :func:`get_settings` (or ``Settings(...)`` in tests) and pass them to
``create_app()``; nothing reads the environment at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BREATHVOICE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    engine: str = Field("kokoro", description="speech engine: 'kokoro' (embedded default)")
    public_base_url: str | None = Field(
        None, description="base URL used in audio_url links; default: the request's own"
    )

    # synthesis
    engine_workers: int = Field(default_factory=_default_workers, ge=1, le=64)
    onnx_threads: int = Field(0, ge=0, description="threads per ONNX run; 0 = auto")
    engine_runtime: Literal["onnxruntime", "openvino", "auto"] = Field(
        "onnxruntime", description="what runs the kokoro model: 'onnxruntime' (int8 "
        "convolutions as int8 matrix products on CPUs with 8-bit dot products), 'openvino' "
        "(bfloat16 convolutions on CPUs with AMX or AVX-512 BF16; slower where the CPU "
        "has 8-bit dot products, see docs/benchmarks.md), 'auto' takes the faster")
    engine_warmup_tokens: int = Field(
        128, ge=0, le=510, description="at start, every worker speaks a window this long at "
        "once, so the engine's memory pool meets its peak before serving; 0 = off")
    batch_concurrency: int = Field(1, ge=1, le=16, description="items of one batch at once")
    max_batch_items: int = Field(100, ge=1)
    max_text_chars: int = Field(1000, ge=1)
    create_demo_group: bool = True
    demo_group_id: str = "Demo"

    # generated files (single-tts, batch-tts): removed when old, or when over the cap
    output_retention_hours: float = Field(
        168.0, ge=0, description="files older than this are removed; 0 = keep forever")
    output_max_bytes: int = Field(
        10 * 1024**3, ge=0, description="all generated files together; the oldest are "
        "removed to make room for new ones; 0 = no cap")

    # voice matching (embedded engine): uploads are matched to their clips in the background
    enrolment: bool = Field(True, description="match voice groups to their reference clips "
                            "(kokoro engine); 'off' keeps the nearest stock voices")
    enrolment_budget_seconds: float = Field(57.0, gt=0, le=600,
                                            description="search time per voice group")
    enrolment_workers: int = Field(1, ge=1, le=8, description="probe renders at once")
    enrolment_gradients: bool = Field(True, description="refine the match with gradient "
                                      "steps through the decoder (needs the 'matching' extra)")
    enrolment_guard: bool = Field(True, description="check matched voices are as easy to "
                                  "understand as the stock voice, and shrink moves until so")
    enrolment_guard_languages: str = Field("zh,en", pattern=r"^(zh|en)(,(zh|en))*$",
                                           description="languages a matched group is checked "
                                           "in (comma-separated)")
    enrolment_nice: int = Field(10, ge=0, le=19, description="CPU niceness of voice "
                                "matching (Linux): higher yields more to synthesis")

    # uploads
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1)
    max_zip_entries: int = Field(64, ge=1)
    max_zip_uncompressed_bytes: int = Field(400 * 1024 * 1024, ge=1)
    min_clip_seconds: float = Field(0.5, gt=0)
    max_clip_seconds: float = Field(120.0, gt=0)

    # upload content: judged from what it declares before any work (no real pack gets near)
    max_clip_sample_rate: int = Field(192_000, ge=8000, le=384_000,
                                      description="highest sample rate of a reference clip")
    max_clip_channels: int = Field(8, ge=1, le=64, description="channels of a reference clip")
    max_manifest_bytes: int = Field(64 * 1024, ge=1024, le=1024 * 1024,
                                    description="size of a manifest shipped in a zip")
    max_manifest_emotions: int = Field(32, ge=1, description="emotions one group declares")
    max_manifest_rules: int = Field(64, ge=1, description="keyword rules one group declares")
    max_rule_keywords: int = Field(64, ge=1, description="keywords in one rule")
    max_manifest_keywords: int = Field(512, ge=1, description="keywords in all rules")

    # pronunciation dictionaries (/v1/pronunciation-dictionaries, a group's pronunciation.pls)
    max_pls_bytes: int = Field(1024 * 1024, ge=1024, description="size of a PLS file")
    max_dictionary_rules: int = Field(5000, ge=1, description="rules in one dictionary")
    pronunciation_hold_seconds: float = Field(
        0.5, ge=0, le=5, description="on a socket, how long a flush may hold back a word "
        "that could still grow into a rule's string, waiting for the next message")

    # quality checks of takes (POST /breathvoice/qa, `breathvoice qa`)
    qa_threads: int = Field(2, ge=1, le=16, description="threads of the speech recogniser; "
                            "it runs one check at a time, at a low CPU priority")
    qa_preload: bool = Field(False, description="load the speech recogniser at start "
                             "(in the background) instead of at the first check")
    max_qa_upload_bytes: int = Field(25 * 1024 * 1024, ge=1, description="audio to check")
    max_qa_seconds: float = Field(120.0, gt=0, le=600, description="longest audio to check")
    qa_recogniser: str = Field("whisper", description="speech recogniser of the checks")
    job_qa: bool = Field(True, description="check every take of a script job in the "
                         "background, re-roll lines whose takes all fail, and choose the "
                         "best of a line's takes")

    # scheduling of live work (sockets, streamed and single requests) and job lines
    scheduler_policy: Literal["responsive", "classic"] = Field(
        "responsive", description="'responsive': short first chunks always, and live work "
        "pauses running job lines; 'classic': the policy before both (for comparison)")
    admission: Literal["degrade", "reject"] = Field(
        "degrade", description="when live requests are over the engine's real-time "
        "capacity: 'degrade' serves all of them, evenly slower; 'reject' refuses new ones "
        "(HTTP 503 with Retry-After, socket error SERVER_BUSY)")
    max_live_jobs: int = Field(0, ge=0, description="live requests spoken at once before "
                               "admission applies; 0 = measured real-time capacity")

    # streaming
    max_contexts_per_socket: int = Field(5, ge=1)
    max_ws_message_bytes: int = Field(1024 * 1024, ge=1024)
    default_inactivity_timeout: float = Field(20.0, gt=0, le=180)

    # script jobs (/breathvoice/jobs)
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the database of keys, usage and jobs, such as "
        "postgresql://user:password@host/db; default: sqlite:///<data_dir>/breathvoice.sqlite3")
    max_job_lines: int = Field(5000, ge=1, description="lines one job may hold")
    max_script_bytes: int = Field(16 * 1024 * 1024, ge=1024,
                                  description="body of one job submission (JSON or CSV upload)")
    max_job_takes: int = Field(5, ge=1, le=20, description="takes per line a job may ask for")
    job_concurrency: int = Field(2, ge=1, le=16, description="job lines rendered at once")
    job_lease_seconds: float = Field(30.0, ge=2, description="a claimed line's lease; "
                                     "renewed while it renders")
    job_reserved_workers: int = Field(0, ge=0, description="synthesis workers job lines "
                                      "leave free for live requests (at least one runs jobs)")

    # access (a non-empty list, or any key in the keys database, turns authentication on)
    api_keys: list[str] = Field(default_factory=list)
    token_lifetime_seconds: float = Field(120.0, gt=0, le=3600,
                                          description="lifetime of single-use browser tokens")
    max_request_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="JSON request bodies; uploads use max_upload_bytes"
    )
    public_hosts: list[str] = Field(
        default_factory=list, description="host names the server answers to besides loopback "
        "names, its bind address and public_base_url's host (JSON list); others get 403")

    # Ray Serve mode (`breathvoice serve --ray`, the 'ray' extra; see docs/scaling.md)
    ray_num_cpus: int = Field(0, ge=0, description="CPUs of the one-node cluster "
                              "`serve --ray` starts without --address; 0 = the machine's")
    ray_engine_replicas: int = Field(1, ge=1, le=256, description="engine replicas at least "
                                     "(each has engine_workers CPUs and threads)")
    ray_engine_max_replicas: int = Field(0, ge=0, le=256, description="engine replicas at "
                                         "most, scaled on ongoing requests; 0 = the least")
    ray_ingress_max_replicas: int = Field(2, ge=1, le=64, description="HTTP/WebSocket "
                                          "replicas at most, scaled on ongoing requests")
    ray_ingress_cpus: float = Field(0.0, ge=0, le=64, description="CPUs reserved per "
                                    "ingress replica (it mostly waits on engine replicas)")
    ray_matching_cpus: float = Field(1.0, ge=0, le=64, description="CPUs reserved by the "
                                     "voice-matching replica")
    ray_metrics: bool = Field(False, description="Ray's and Serve's metrics (for Prometheus) "
                              "on the cluster `serve --ray` starts; off saves CPU on each node")

    @property
    def voices_dir(self) -> Path:
        return self.data_dir / "voices"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def staging_dir(self) -> Path:
        """Scratch space on the same filesystem as the data, so renames are atomic."""
        return self.data_dir / ".staging"


def get_settings() -> Settings:
    return Settings()
