"""The socket's query string and headers, as both the ElevenLabs and the seed SDK send them."""

from __future__ import annotations

import pytest

from breathvoice.errors import InvalidRequest, UnsupportedFormat
from breathvoice.streaming.params import (
    DEFAULT_MODEL_ID,
    api_key_of,
    parse_stream_params,
)

EMOTIONS = ("greeting", "B1_B2", "B3_B4", "B5_orgasm")


def test_elevenlabs_path_parameters() -> None:
    params = parse_stream_params(
        {"model_id": "eleven_multilingual_v2", "output_format": "pcm_24000",
         "language_code": "zh-CN", "inactivity_timeout": "180", "sync_alignment": "true",
         "auto_mode": "True", "enable_logging": "false", "apply_text_normalization": "auto",
         "seed": "7"},
        {"xi-api-key": "k1"},
    )
    assert params.api_key == "k1" and params.model_id == "eleven_multilingual_v2"
    assert (params.output_format.codec, params.output_format.sample_rate) == ("pcm", 24000)
    assert params.language == "zh" and params.inactivity_timeout == 180
    assert params.sync_alignment and params.auto_mode and params.emotion is None


def test_seed_sdk_path_parameters() -> None:
    # What the seed SDK's connect({"model_id": "flash_v2_5", "format": "pcm_16000", ...}) sends.
    params = parse_stream_params(
        {"priority": "dedicated_concurrency", "model_id": "flash_v2_5", "format": "pcm_16000",
         "language_code": "zh"},
        {"Api-Key": "k2"},
    )
    assert params.api_key == "k2" and params.model_id == "flash_v2_5"
    assert params.output_format.name == "pcm_16000" and params.language == "zh"
    assert params.inactivity_timeout == 20 and not params.sync_alignment and not params.auto_mode


def test_defaults() -> None:
    params = parse_stream_params({}, {}, default_inactivity_timeout=30)
    assert params.api_key is None and params.model_id == DEFAULT_MODEL_ID
    assert params.output_format.name == "mp3_44100_128"
    assert params.language is None and params.inactivity_timeout == 30


@pytest.mark.parametrize("name", ["mp3_22050_32", "pcm_24000", "ulaw_8000", "alaw_8000",
                                  "pcm_8000", "pcm_44100", "mp3_44100_128"])
def test_formats_clients_ask_for_by_default(name: str) -> None:
    assert parse_stream_params({"output_format": name}, {}).output_format.name == name


def test_api_key_sources_in_order_of_preference() -> None:
    assert api_key_of({"authorization": "q"}, {"xi-api-key": "h"}) == "h"
    assert api_key_of({}, {"Authorization": "Bearer tok"}) == "tok"
    assert api_key_of({"authorization": "Bearer q"}, {}) == "q"
    assert api_key_of({"authorization": "q"}, {}) == "q"
    assert api_key_of({"xi_api_key": "q2"}, {}) == "q2"
    assert api_key_of({}, {"xi-api-key": "  "}) is None


def test_inactivity_timeout_above_the_maximum_is_capped() -> None:
    assert parse_stream_params({"inactivity_timeout": "300"}, {}).inactivity_timeout == 180
    assert parse_stream_params({"inactivity_timeout": "2.5"}, {}).inactivity_timeout == 2.5


def test_unknown_models_with_plain_names_are_accepted() -> None:
    for model in ("eleven_v3", "eleven_turbo_v2_5", "turbo_v2_5", "eleven_flash_v2", "kokoro"):
        assert parse_stream_params({"model_id": model}, {}).model_id == model


def test_session_config_carries_the_socket_parameters() -> None:
    params = parse_stream_params({"sync_alignment": "true", "auto_mode": "1",
                                  "inactivity_timeout": "60", "language_code": "ja"}, {})
    config = params.session_config(EMOTIONS, max_contexts=3)
    assert config.emotions == EMOTIONS and config.default_emotion == "greeting"
    assert config.max_contexts == 3 and config.inactivity_timeout == 60
    assert config.sync_alignment and config.auto_mode and config.language == "ja"


def test_the_emotion_parameter_sets_the_default_emotion() -> None:
    params = parse_stream_params({"emotion": "b1_b2"}, {})
    assert params.session_config(EMOTIONS, max_contexts=5).default_emotion == "B1_B2"
    with pytest.raises(InvalidRequest) as caught:
        parse_stream_params({"emotion": "angry"}, {}).session_config(EMOTIONS, max_contexts=5)
    assert "angry" in caught.value.message and "B3_B4" in caught.value.message


@pytest.mark.parametrize("query", [
    {"inactivity_timeout": "soon"}, {"inactivity_timeout": "0"}, {"inactivity_timeout": "-5"},
    {"inactivity_timeout": "nan"}, {"inactivity_timeout": "inf"},
    {"sync_alignment": "maybe"}, {"auto_mode": "2"},
    {"language_code": "chinese!"}, {"language_code": "z"},
    {"model_id": "../../etc"}, {"model_id": "a b"}, {"model_id": "m" * 65},
    {"emotion": "x" * 65}, {"emotion": "bad\nname"},
])
def test_bad_values_are_invalid_requests(query: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_stream_params(query, {})
    assert caught.value.code == "INVALID_REQUEST" and caught.value.ws_close == 1008


def test_an_unknown_output_format_names_the_supported_ones() -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        parse_stream_params({"output_format": "flac_96000"}, {})
    assert "pcm_24000" in caught.value.message
