"""Multi-context WebSocket TTS client, and the BreathVOICE REST client.

    client = TTSClient(base_url, api_key, voice_id)
    await client.connect({"model_id": "flash_v2_5", "format": "pcm_16000"})
    ctx = client.create_context("ctx_001").on_audio(lambda audio, is_final: ...)
    await ctx.send_text("你好，世界", flush=True)
    await ctx.end_input()
    await ctx.wait_done(timeout=30)
    await client.disconnect()
"""

from .client import TTSClient
from .context import TTSContext
from .errors import (
    AuthenticationError,
    ConnectionClosedError,
    ContextClosedError,
    ContextError,
    ContextLimitError,
    TTSConnectionError,
    TTSError,
)
from .rest import AsyncBreathVOICEClient, BreathVOICEClient
from .rest_errors import (
    BadRequestError,
    BreathVOICEConnectionError,
    BreathVOICEError,
    ClientError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    UnauthorizedError,
)

__version__ = "0.2.0"

__all__ = [
    "AsyncBreathVOICEClient",
    "AuthenticationError",
    "BadRequestError",
    "BreathVOICEClient",
    "BreathVOICEConnectionError",
    "BreathVOICEError",
    "ClientError",
    "ConflictError",
    "ConnectionClosedError",
    "ContextClosedError",
    "ContextError",
    "ContextLimitError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServerError",
    "TTSClient",
    "TTSConnectionError",
    "TTSContext",
    "TTSError",
    "UnauthorizedError",
    "__version__",
]
