"""BreathVOICEClient, AsyncBreathVOICEClient and the REST example against the real server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from audio_checks import check_wav
from multi_ws_tts_sdk import (
    AsyncBreathVOICEClient,
    BadRequestError,
    BreathVOICEClient,
    ConflictError,
    NotFoundError,
)
from zips import good_zip

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def client(live_server) -> BreathVOICEClient:  # type: ignore[no-untyped-def]
    return BreathVOICEClient(live_server.base_url)


def test_reads_of_the_guide(client: BreathVOICEClient) -> None:
    assert client.test_connection() is True
    groups = client.get_voice_groups()
    assert "Demo" in groups["voice_groups"] and groups["count"] == len(groups["voice_groups"])
    details = client.get_voice_group_details("Demo")
    assert details["voice_group_id"] == "Demo" and details["status"] in ("ready", "incomplete")
    assert client.health()["status"] == "healthy"


def test_single_tts_then_download_gives_a_real_wav(client: BreathVOICEClient,
                                                    tmp_path: Path) -> None:
    answer = client.single_tts("你好。", "greeting_sdk_001.wav", "Demo")
    assert answer["success"] is True and answer["result"]["status"] == "success"
    data = client.download(answer, dest=tmp_path / "out.wav")
    check_wav(data, min_seconds=0.2)
    assert (tmp_path / "out.wav").read_bytes() == data
    assert client.download(answer["result"]["output_path"]) == data


def test_batch_reports_a_bad_item_without_failing_the_others(client: BreathVOICEClient) -> None:
    results = client.batch_tts("Demo", [
        {"text": "好。", "filename": "B1_sdk_batch.wav"},
        {"text": "好。", "filename": "../escape.wav"},
    ])
    assert (results["successful_count"], results["failed_count"]) == (1, 1)
    good, bad = results["results"]
    assert good["success"] and not bad["success"] and bad["error"]
    check_wav(client.download(good), min_seconds=0.2)


def test_errors_are_typed_with_the_server_body(client: BreathVOICEClient) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.get_voice_group_details("NoSuchGroup")
    assert missing.value.status == 404 and missing.value.body is not None
    assert missing.value.body["success"] is False and missing.value.body["error"]
    with pytest.raises(BadRequestError) as refused:
        client.single_tts("好。", "../../etc/passwd.wav", "Demo")
    assert refused.value.status == 400
    assert refused.value.body is not None and refused.value.body["success"] is False


def test_upload_then_conflict_then_overwrite(client: BreathVOICEClient, tmp_path: Path) -> None:
    archive = tmp_path / "SdkGroup.zip"
    archive.write_bytes(good_zip("SdkGroup"))
    uploaded = client.upload_voice_group(str(archive), "SdkGroup")
    assert sorted(uploaded["extracted_files"]) == sorted(
        f"SdkGroup_{emotion}.wav" for emotion in ("greeting", "B1_B2", "B3_B4", "B5_orgasm"))
    with pytest.raises(ConflictError) as conflict:
        client.upload_voice_group(archive, "SdkGroup")
    assert conflict.value.status == 409
    assert client.upload_voice_group(archive, "SdkGroup", overwrite=True)["voice_group_id"] == (
        "SdkGroup")
    assert "SdkGroup" in client.get_voice_groups()["voice_groups"]


def test_async_client(live_server) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        client = AsyncBreathVOICEClient(live_server.base_url)
        assert await client.test_connection()
        groups, details = await asyncio.gather(client.get_voice_groups(),
                                               client.get_voice_group_details("Demo"))
        assert "Demo" in groups["voice_groups"] and details["voice_group_id"] == "Demo"
        with pytest.raises(NotFoundError):
            await client.get_voice_group_details("NoSuchGroup")

    asyncio.run(scenario())


def test_rest_example_runs_the_guide_main(live_server) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "rest_client_example.py")],
        env={"BREATHVOICE_URL": live_server.base_url, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300, check=True,
    )
    assert "✅ API 连接成功" in done.stdout
    assert "成功 2 个，失败 0 个" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count("字节") == 2
