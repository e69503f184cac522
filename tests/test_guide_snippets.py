"""The REST guide's Python snippets, verbatim but for the base URL, against a live server.

Each snippet is copied from the seed guide (breathvoice-api-guide.md); the assertions after
it check the fields the guide promises and the audio it makes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from audio_checks import check_wav
from zips import good_zip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(live_server) -> str:  # type: ignore[no-untyped-def]
    url: str = live_server.base_url
    # The guide's snippets speak as "ChineseWoman": make that group exist first.
    r = requests.post(f"{url}/breathvoice/upload-voice-group",
                      files={"file": ("ChineseWoman.zip", good_zip("ChineseWoman"))},
                      data={"voice_group_id": "ChineseWoman", "overwrite": "true"})
    assert r.status_code == 200, r.text
    return url


def _download(result: dict) -> bytes:  # type: ignore[type-arg]
    r = requests.get(result["audio_url"], timeout=30)
    assert r.status_code == 200
    return r.content


def test_basic_connection(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    BASE_URL = base_url
    # 测试基础连接
    response = requests.get(f"{BASE_URL}/")
    print(f"服务状态: {response.status_code}")

    # 测试 BreathVOICE 扩展
    response = requests.get(f"{BASE_URL}/breathvoice/voice-groups")
    if response.status_code == 200:
        print("BreathVOICE API 可用")
        print(f"可用角色组: {response.json()}")
    else:
        print(f"BreathVOICE API 不可用: {response.status_code}")
    out = capsys.readouterr().out
    assert "服务状态: 200" in out and "BreathVOICE API 可用" in out
    root = requests.get(f"{BASE_URL}/").json()
    assert root["service"] == "breathvoice" and root["engine"] == "kokoro"


def test_openapi_lists_every_route(base_url: str) -> None:
    BASE_URL = base_url
    response = requests.get(f"{BASE_URL}/openapi.json")
    api_spec = response.json()
    paths = {}
    for path, methods in api_spec["paths"].items():
        print(f"{path}: {list(methods.keys())}")
        paths[path] = list(methods.keys())
    for path in ("/breathvoice/voice-groups", "/breathvoice/voice-groups/{voice_group_id}",
                 "/breathvoice/single-tts", "/breathvoice/batch-tts",
                 "/breathvoice/upload-voice-group", "/breathvoice/health"):
        assert path in paths, path
    assert requests.get(f"{BASE_URL}/docs").status_code == 200


def test_list_voice_groups(base_url: str) -> None:
    response = requests.get(f"{base_url}/breathvoice/voice-groups")
    data = response.json()
    if response.status_code == 200:
        voice_groups = response.json()["voice_groups"]
        print(f"找到 {len(voice_groups)} 个角色组")
    assert set(data) >= {"voice_groups", "count"}
    assert data["count"] == len(data["voice_groups"])
    assert {"Demo", "ChineseWoman"} <= set(data["voice_groups"])


def test_voice_group_details(base_url: str) -> None:
    voice_group_id = "ChineseWoman"
    response = requests.get(f"{base_url}/breathvoice/voice-groups/{voice_group_id}")
    details = response.json()
    assert response.status_code == 200
    assert details["voice_group_id"] == "ChineseWoman"
    assert details["reference_files"] == {
        "greeting": "ChineseWoman_greeting.wav",
        "B1_B2": "ChineseWoman_B1_B2.wav",
        "B3_B4": "ChineseWoman_B3_B4.wav",
        "B5_orgasm": "ChineseWoman_B5_orgasm.wav",
    }
    assert details["available_emotions"] == ["greeting", "B1_B2", "B3_B4", "B5_orgasm"]
    assert details["file_count"] == 4 and details["status"] == "ready"
    missing = requests.get(f"{base_url}/breathvoice/voice-groups/NoSuchGroup")
    assert missing.status_code == 404


def test_single_tts(base_url: str) -> None:
    single_request = {
        "text": "你好，欢迎来到我们的世界！",
        "filename": "greeting_001.wav",
        "voice_group_id": "ChineseWoman"
    }
    response = requests.post(
        f"{base_url}/breathvoice/single-tts",
        json=single_request,
        headers={"Content-Type": "application/json"}
    )
    if response.status_code == 200:
        result = response.json()
        print(f"生成成功: {result['result']['output_path']}")
        print(f"处理时间: {result['result']['processing_time']}秒")
    else:
        print(f"生成失败: {response.status_code} - {response.text}")
    body = response.json()
    assert response.status_code == 200, body
    assert body["success"] is True and isinstance(body["message"], str)
    result = body["result"]
    assert result["filename"] == "greeting_001.wav"
    assert result["text"] == "你好，欢迎来到我们的世界！"
    assert result["reference_audio"] == "ChineseWoman_greeting.wav"
    assert result["output_path"] == "ChineseWoman/greeting_001.wav"
    assert result["status"] == "success" and result["processing_time"] > 0
    check_wav(_download(result))


def test_sequential_workflow(base_url: str) -> None:
    def sequential_tts_generation(requests_list):  # type: ignore[no-untyped-def]
        results = []
        for i, request in enumerate(requests_list):
            print(f"正在生成第 {i+1}/{len(requests_list)} 条: {request['text'][:20]}...")
            response = requests.post(
                f"{base_url}/breathvoice/single-tts",
                json=request,
                headers={"Content-Type": "application/json"}
            )
            if response.status_code == 200:
                result = response.json()
                results.append(result['result'])
                print(f"✓ 生成成功: {result['result']['filename']}")
            else:
                error_result = {
                    "filename": request['filename'],
                    "text": request['text'],
                    "status": "failed",
                    "error": f"HTTP {response.status_code}"
                }
                results.append(error_result)
                print(f"✗ 生成失败: {request['filename']}")
        return results

    requests_list = [
        {"text": "你好，欢迎来到我们的世界！", "filename": "greeting_001.wav",
         "voice_group_id": "ChineseWoman"},
        {"text": "这真是太令人兴奋了！", "filename": "B1_start_004.wav",
         "voice_group_id": "ChineseWoman"},
    ]
    results = sequential_tts_generation(requests_list)
    assert [r["status"] for r in results] == ["success", "success"]
    assert results[1]["reference_audio"] == "ChineseWoman_B1_B2.wav"


def test_batch_with_one_bad_item(base_url: str) -> None:
    url = f"{base_url}/breathvoice/batch-tts"
    requests_data = [
        {"text": "你好，欢迎使用 BreathVOICE！", "filename": "greeting_welcome.wav",
         "voice_group_id": "ChineseWoman"},
        {"text": "这是 B1 情绪的测试文本。", "filename": "emotion_B1_test.wav",
         "voice_group_id": "ChineseWoman"},
        {"text": "", "filename": "invalid_test.wav", "voice_group_id": "ChineseWoman"},
    ]
    response = requests.post(url, json={"requests": requests_data},
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 200, response.text
    data = response.json()
    print(f"生成成功: {data['successful_count']} 个文件")
    print(f"失败: {data['failed_count']} 个文件")
    for item in data["results"]:
        if item["success"]:
            print(f"✅ {item['filename']}: {item['output_path']}")
        else:
            print(f"❌ {item['filename']}: {item['error']}")
    assert (data["successful_count"], data["failed_count"], data["total_count"]) == (2, 1, 3)
    ok, b1, bad = data["results"]
    assert ok["reference_audio"] == "ChineseWoman_greeting.wav"
    assert b1["reference_audio"] == "ChineseWoman_B1_B2.wav"
    for item in (ok, b1):
        assert set(item) >= {"filename", "success", "output_path", "reference_audio",
                             "processing_time"}
        assert not item["output_path"].startswith("/")
        check_wav(_download(item))
    assert bad == {"filename": "invalid_test.wav", "success": False,
                   "error": bad["error"], "code": "INVALID_REQUEST"} and bad["error"]


def test_upload_voice_group_snippet(base_url: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("NewCharacter.zip").write_bytes(good_zip("NewCharacter"))

    def upload_voice_group(zip_file_path, voice_group_id, overwrite=False):  # type: ignore[no-untyped-def]
        url = f"{base_url}/breathvoice/upload-voice-group"
        with open(zip_file_path, 'rb') as f:
            files = {'file': f}
            data = {
                'voice_group_id': voice_group_id,
                'overwrite': str(overwrite).lower()
            }
            response = requests.post(url, files=files, data=data)
        if response.status_code == 200:
            return {"success": True, "data": response.json()}
        else:
            return {"success": False, "error": f"HTTP {response.status_code}: {response.text}"}

    result = upload_voice_group("NewCharacter.zip", "NewCharacter", overwrite=False)
    assert result["success"], result
    data = result["data"]
    assert data["voice_group_id"] == "NewCharacter"
    assert sorted(data["extracted_files"]) == sorted([
        "NewCharacter_greeting.wav", "NewCharacter_B1_B2.wav",
        "NewCharacter_B3_B4.wav", "NewCharacter_B5_orgasm.wav"])
    assert data["target_directory"] == "voices/NewCharacter"
    again = upload_voice_group("NewCharacter.zip", "NewCharacter", overwrite=False)
    assert again == {"success": False, "error": again["error"]}
    assert again["error"].startswith("HTTP 409")
    replaced = upload_voice_group("NewCharacter.zip", "NewCharacter", overwrite=True)
    assert replaced["success"]



@pytest.mark.parametrize(("filename", "reference"), [
    ("greeting_002.wav", "ChineseWoman_greeting.wav"),
    ("b2_line.wav", "ChineseWoman_B1_B2.wav"),
    ("P0_B4_B5_reaction_17.wav", "ChineseWoman_B3_B4.wav"),
    ("impact_03.wav", "ChineseWoman_B3_B4.wav"),
    ("ORGASM_final.wav", "ChineseWoman_B5_orgasm.wav"),
    ("B10_line.wav", "ChineseWoman_greeting.wav"),
    ("plain_line.wav", "ChineseWoman_greeting.wav"),
])
def test_reference_follows_the_filename(base_url: str, filename: str, reference: str) -> None:
    r = requests.post(f"{base_url}/breathvoice/single-tts",
                      json={"text": "好的。", "filename": filename,
                            "voice_group_id": "ChineseWoman"})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["reference_audio"] == reference


def test_inline_audio_and_other_formats(base_url: str) -> None:
    import base64

    r = requests.post(f"{base_url}/breathvoice/single-tts",
                      json={"text": "Hello there, 你好。", "filename": "mixed.wav",
                            "voice_group_id": "Demo", "return_audio": True})
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    inline = base64.b64decode(result["audio_data"])
    assert inline == _download(result)
    check_wav(inline)
    mp3 = requests.post(f"{base_url}/breathvoice/single-tts",
                        json={"text": "你好。", "filename": "line.mp3", "voice_group_id": "Demo"})
    assert mp3.status_code == 200, mp3.text
    data = _download(mp3.json()["result"])
    assert data[:3] == b"ID3" or data[0] == 0xFF
