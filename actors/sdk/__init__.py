"""The actor SDK: what code running inside an actor container imports.

Only the standard library is imported here, so this package (with actors/__init__.py)
can be copied into actor images. The user client (``actors.sdk.client``, ``abaco``
command) needs ``requests`` and is deliberately not imported here. The container paths
live in ``actors.sdk.actor`` (set them there, e.g. in tests).
"""

from actors.sdk.actor import (
                              APIError,
                              AttrDict,
                              SDKError,
                              get_binary_message,
                              get_context,
                              send_bytes_result,
                              send_python_result,
                              update_state,
)

__all__ = ["APIError", "AttrDict", "SDKError", "get_binary_message", "get_context",
           "send_bytes_result", "send_python_result", "update_state"]
