"""The distribution itself: public API, Python 3.8 compatibility, dependencies."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import tomllib

import multi_ws_tts_sdk
from multi_ws_tts_sdk import AsyncBreathVOICEClient, BreathVOICEClient, TTSClient, TTSContext

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "packages" / "multi-ws-tts-sdk"
SOURCE = PACKAGE_ROOT / "src" / "multi_ws_tts_sdk"


def test_public_api_is_exactly_this() -> None:
    assert sorted(multi_ws_tts_sdk.__all__) == sorted([
        "AsyncBreathVOICEClient", "AuthenticationError", "BadRequestError", "BreathVOICEClient",
        "BreathVOICEConnectionError", "BreathVOICEError", "ClientError", "ConflictError",
        "ConnectionClosedError", "ContextClosedError", "ContextError", "ContextLimitError",
        "NotFoundError", "PayloadTooLargeError", "RateLimitError", "ServerError", "TTSClient",
        "TTSConnectionError", "TTSContext", "TTSError", "UnauthorizedError", "__version__",
    ])
    for name in multi_ws_tts_sdk.__all__:
        assert hasattr(multi_ws_tts_sdk, name), name


def _parameters(function: object) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]  # type: ignore[arg-type]


def test_every_name_of_the_seed_readme_exists_with_its_arguments() -> None:
    assert _parameters(TTSClient.__init__)[:3] == ["base_url", "api_key", "voice_id"]
    assert _parameters(TTSClient.connect) == ["query_params"]
    assert _parameters(TTSClient.create_context)[0] == "context_id"
    for name in ("get_context", "remove_context"):
        assert _parameters(getattr(TTSClient, name)) == ["context_id"]
    for name in ("get_active_context_count", "is_connected", "disconnect"):
        assert _parameters(getattr(TTSClient, name)) == []
    assert _parameters(TTSContext.send_text) == ["text", "flush"]
    assert inspect.signature(TTSContext.send_text).parameters["flush"].default is False
    for name in ("end_input", "close", "get_all_audio", "clear_audio_buffer"):
        assert _parameters(getattr(TTSContext, name)) == []
    for name in ("on_audio", "on_error", "on_complete"):
        assert _parameters(getattr(TTSContext, name)) == ["callback"]
    for name in ("connect", "disconnect"):
        assert inspect.iscoroutinefunction(getattr(TTSClient, name))
    for name in ("send_text", "end_input", "close", "wait_done"):
        assert inspect.iscoroutinefunction(getattr(TTSContext, name))


def test_rest_clients_have_the_guide_methods_sync_and_async() -> None:
    guide = {"test_connection": [], "get_voice_groups": [],
             "get_voice_group_details": ["voice_group_id"],
             "upload_voice_group": ["zip_file_path", "voice_group_id", "overwrite"]}
    for name, parameters in guide.items():
        assert _parameters(getattr(BreathVOICEClient, name)) == parameters
        assert _parameters(getattr(AsyncBreathVOICEClient, name)) == parameters
    assert _parameters(BreathVOICEClient.batch_tts)[0] == "requests"
    for name in [*guide, "batch_tts", "single_tts", "download", "health"]:
        assert inspect.iscoroutinefunction(getattr(AsyncBreathVOICEClient, name)), name
        assert not inspect.iscoroutinefunction(getattr(BreathVOICEClient, name)), name


def test_every_module_parses_as_python_3_8() -> None:
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) >= 8
    for path in files:
        ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 8))


def _vermin(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("vermin")), "-t=3.8-", "--no-tips", "--violations",
         "--eval-annotations", str(target)],
        capture_output=True, text=True, check=False,
    )


def test_no_module_needs_more_than_python_3_8(tmp_path: Path) -> None:
    newer = tmp_path / "newer.py"
    newer.write_text("import dataclasses\n"
                     "@dataclasses.dataclass(slots=True)\nclass A:\n    x: int\n")
    assert _vermin(newer).returncode != 0  # the checker does see 3.10-only APIs
    result = _vermin(SOURCE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_typed_and_depends_on_websockets_only() -> None:
    assert (SOURCE / "py.typed").is_file()
    project = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == ["websockets>=12.0"]
    assert project["requires-python"] == ">=3.8"
    imported: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"websockets"}
