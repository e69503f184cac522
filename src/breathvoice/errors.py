"""The one error tree of BreathVOICE.

Every error a user can see is a :class:`BreathVoiceError`. Each knows its wire ``code``
(the ElevenLabs-style code used on the WebSocket), its ``http_status`` and its WebSocket
``ws_close`` code. They are mapped to HTTP responses in exactly one place
(``breathvoice.api.errors``) and to WebSocket messages by the streaming pump.

    BreathVoiceError                       500  STREAMING_SERVICE_ERROR
    ├── InvalidRequest                     400  INVALID_REQUEST
    │   └── UnsupportedFormat              400  INVALID_REQUEST
    ├── Unauthorized                       401  INVALID_API_KEY        (ws 1008)
    ├── QuotaExceeded                      402  INSUFFICIENT_QUOTA     (ws 1008)
    ├── Forbidden                          403  FORBIDDEN              (ws 1008)
    ├── NotFound                           404  NOT_FOUND
    │   ├── VoiceGroupNotFound             404  VOICE_NOT_FOUND        (ws 1008)
    │   ├── OutputNotFound                 404  NOT_FOUND
    │   ├── JobNotFound                    404  NOT_FOUND
    │   └── DictionaryNotFound             404  NOT_FOUND
    ├── Conflict                           409  CONFLICT
    ├── VoiceGroupExists                   409  VOICE_GROUP_EXISTS
    ├── PayloadTooLarge                    413  PAYLOAD_TOO_LARGE      (ws 1009)
    ├── TooManyRequests                    429  TOO_MANY_CONCURRENT_REQUESTS
    ├── ServerBusy                         503  SERVER_BUSY            (ws 1013)
    ├── ContextLimitExceeded               429  MAX_CONTEXT_LIMIT_EXCEEDED
    ├── InputTimeout                       408  INPUT_TIMEOUT_EXCEEDED
    ├── StorageFull                        507  INSUFFICIENT_STORAGE
    ├── DatabaseUnavailable                503  SERVICE_UNAVAILABLE    (ws 1013)
    └── EngineError                        500  STREAMING_SERVICE_ERROR (ws 1011)

Messages are written for users: they never carry absolute server paths or tracebacks.
"""

from __future__ import annotations

from typing import ClassVar


class BreathVoiceError(Exception):
    code: ClassVar[str] = "STREAMING_SERVICE_ERROR"
    http_status: ClassVar[int] = 500
    ws_close: ClassVar[int] = 1011
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidRequest(BreathVoiceError):
    code = "INVALID_REQUEST"
    http_status = 400
    ws_close = 1008
    default_message = "invalid request"


class UnsupportedFormat(InvalidRequest):
    default_message = "unsupported output format"


class Unauthorized(BreathVoiceError):
    code = "INVALID_API_KEY"
    http_status = 401
    ws_close = 1008
    default_message = "missing or invalid API key"


class QuotaExceeded(BreathVoiceError):
    code = "INSUFFICIENT_QUOTA"
    http_status = 402
    ws_close = 1008
    default_message = "character quota exhausted"


class Forbidden(BreathVoiceError):
    code = "FORBIDDEN"
    http_status = 403
    ws_close = 1008
    default_message = "this key may not do that"


class NotFound(BreathVoiceError):
    code = "NOT_FOUND"
    http_status = 404
    ws_close = 1008
    default_message = "not found"


class VoiceGroupNotFound(NotFound):
    code = "VOICE_NOT_FOUND"

    def __init__(self, voice_group_id: str) -> None:
        self.voice_group_id = voice_group_id
        super().__init__(f"Voice group '{voice_group_id}' not found")


class OutputNotFound(NotFound):
    default_message = "output file not found"


class JobNotFound(NotFound):
    default_message = "job not found"


class DictionaryNotFound(NotFound):
    default_message = "pronunciation dictionary not found"


class Conflict(BreathVoiceError):
    code = "CONFLICT"
    http_status = 409
    ws_close = 1008
    default_message = "the request conflicts with the current state"


class VoiceGroupExists(BreathVoiceError):
    code = "VOICE_GROUP_EXISTS"
    http_status = 409
    ws_close = 1008

    def __init__(self, voice_group_id: str) -> None:
        super().__init__(
            f"Voice group '{voice_group_id}' already exists; send overwrite=true to replace it"
        )


class PayloadTooLarge(BreathVoiceError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    ws_close = 1009
    default_message = "request too large"


class TooManyRequests(BreathVoiceError):
    code = "TOO_MANY_CONCURRENT_REQUESTS"
    http_status = 429
    ws_close = 1013
    default_message = "too many concurrent requests"


class ServerBusy(BreathVoiceError):
    """Live demand is over what the engine makes in real time (admission ``reject``)."""

    code = "SERVER_BUSY"
    http_status = 503
    ws_close = 1013
    default_message = "the server is at its real-time capacity; retry shortly"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, retry_after))}


class ContextLimitExceeded(BreathVoiceError):
    code = "MAX_CONTEXT_LIMIT_EXCEEDED"
    http_status = 429
    ws_close = 1008
    default_message = "maximum number of open contexts reached"


class InputTimeout(BreathVoiceError):
    code = "INPUT_TIMEOUT_EXCEEDED"
    http_status = 408
    ws_close = 1008
    default_message = "no input received within the inactivity timeout"


class EngineError(BreathVoiceError):
    code = "STREAMING_SERVICE_ERROR"
    http_status = 500
    ws_close = 1011
    default_message = "speech synthesis failed"


class StorageFull(BreathVoiceError):
    code = "INSUFFICIENT_STORAGE"
    http_status = 507
    ws_close = 1011
    default_message = "output storage is full; try again later or ask the administrator"


class DatabaseUnavailable(BreathVoiceError):
    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    ws_close = 1013
    default_message = "the server's database cannot be reached; try again shortly"
