"""Request and response bodies of the BreathVOICE REST API (the seed guide's shapes)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

VOICE_METHOD_HEADER = "X-Voice-Method"
"""On speech from a voice group (and on the multi-context socket's handshake): 'matched',
or 'stock' while its voice matching is not done."""
MAX_CONTEXTS_HEADER = "X-Max-Contexts"
"""On the multi-context socket's handshake: how many contexts may be open at once."""


class LoudnessOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_lufs: float = Field(-16.0, description="integrated loudness (EBU R128), -40 to -5")
    true_peak_db: float = Field(-1.0, description="true-peak ceiling in dBTP, -9 to 0")


class TTSRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"text": "你好，欢迎来到我们的世界！",
                                       "filename": "greeting_001.wav",
                                       "voice_group_id": "Demo"}}
    )
    text: str = Field(description="text to speak")
    filename: str = Field(
        description="output file name; its keywords pick the emotion (greeting, B1/B2, "
        "B0/B3/B4/impact, B5/orgasm). .wav (default), .mp3, .flac, .ogg or .opus"
    )
    voice_group_id: str = Field(description="voice group (character) to speak with")
    emotion: str | None = Field(
        None, description="extension: use this emotion of the group instead of the filename's"
    )
    speed: float = Field(1.0, ge=0.5, le=2.0, description="extension: speaking rate")
    language: str | None = Field(None, description="extension: 'zh', 'en' or 'ja'; default auto")
    return_audio: bool = Field(
        False, description="extension: also return the file inline as base64 `audio_data`"
    )
    pronunciation_dictionary_locators: list[dict[str, Any]] | None = Field(
        None, description="extension: up to 3 {pronunciation_dictionary_id, version_id?}, "
        "applied before the voice group's own dictionaries (the first wins)")
    loudness: LoudnessOption | str | None = Field(
        None, description="extension: deliver at this loudness, peaks limited (not clipped) "
        "under the ceiling: {target_lufs, true_peak_db} or a preset, 'podcast' (-16 LUFS), "
        "'game' (-18) or 'broadcast' (-23), each with a -1 dBTP ceiling"
    )


class BatchItem(BaseModel):
    """One line of a batch. Missing or bad fields fail this item only, not the batch."""

    text: str | None = None
    filename: str | None = None
    voice_group_id: str | None = None
    emotion: str | None = None
    speed: float | None = None
    language: str | None = None
    pronunciation_dictionary_locators: list[dict[str, Any]] | None = None


class BatchRequest(BaseModel):
    requests: list[BatchItem] = Field(description="the lines to make")
    return_audio: bool = Field(False, description="extension: inline base64 `audio_data`")


class TTSResult(BaseModel):
    filename: str
    text: str
    reference_audio: str
    output_path: str = Field(description="relative to the server's output folder")
    status: str = "success"
    processing_time: float
    emotion: str
    audio_url: str
    duration: float
    sample_rate: int
    audio_data: str | None = None
    voice_method: str | None = Field(
        None, description="extension: the voice that spoke this line, 'matched' (the group's "
        "own matched voice) or 'stock' (its nearest stock voice, while voice matching runs or "
        "when it is off)"
    )


class SingleTTSResponse(BaseModel):
    success: bool = True
    message: str
    result: TTSResult


class BatchResponse(BaseModel):
    successful_count: int
    failed_count: int
    total_count: int
    results: list[dict[str, Any]] = Field(
        description="per line: {filename, success: true, output_path, reference_audio, "
        "processing_time, audio_url, ...} or {filename, success: false, error}"
    )


class VoiceGroupList(BaseModel):
    voice_groups: list[str]
    count: int


class UploadResponse(BaseModel):
    message: str
    voice_group_id: str
    extracted_files: list[str]
    target_directory: str = Field(description="relative to the server's data folder")
    status: str
    warnings: list[str] = []
    enrolment: dict[str, Any] | None = Field(
        None, description="extension: background voice matching, as in the group's details"
    )


class Health(BaseModel):
    status: str
    service: str
    version: str
    available_voice_groups: int
    engine: str
