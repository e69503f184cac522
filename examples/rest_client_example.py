"""The REST guide's integration example, on ``BreathVOICEClient``.

    BREATHVOICE_URL=http://127.0.0.1:8000 python examples/rest_client_example.py
"""

from __future__ import annotations

import os

from multi_ws_tts_sdk import BreathVOICEClient


def main() -> None:
    # 初始化客户端
    client = BreathVOICEClient(os.environ.get("BREATHVOICE_URL", "http://127.0.0.1:8000"))

    # 测试连接
    if not client.test_connection():
        print("无法连接到 BreathVOICE API")
        return

    print("✅ API 连接成功")

    # 获取角色组列表
    voice_groups = client.get_voice_groups()
    print(f"📋 可用角色组: {voice_groups['voice_groups']}")

    if voice_groups['voice_groups']:
        # 获取第一个角色组的详细信息
        first_group = voice_groups['voice_groups'][0]
        details = client.get_voice_group_details(first_group)
        print(f"📝 {first_group} 详细信息: {details}")

        # 批量 TTS 生成
        tts_requests = [
            {
                "text": "你好，这是一个测试。",
                "filename": "greeting_test.wav",
                "voice_group_id": first_group
            },
            {
                "text": "这是 B1 情绪测试。",
                "filename": "B1_emotion_test.wav",
                "voice_group_id": first_group
            }
        ]

        try:
            results = client.batch_tts(tts_requests)
            print(f"🎵 TTS 生成结果: 成功 {results['successful_count']} 个，"
                  f"失败 {results['failed_count']} 个")

            for result in results['results']:
                if result['success']:
                    print(f"  ✅ {result['filename']}: {result['output_path']}")
                    audio = client.download(result)
                    print(f"     ⬇️  {len(audio)} 字节")
                else:
                    print(f"  ❌ {result['filename']}: {result['error']}")

        except Exception as e:
            print(f"❌ TTS 生成失败: {e}")


if __name__ == "__main__":
    main()
