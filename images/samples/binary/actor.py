"""Sample actor: reads the binary message; prints and returns its sha256."""

import hashlib

from actors.sdk import get_binary_message, send_bytes_result

data = get_binary_message()
digest = hashlib.sha256(data).hexdigest()
print(f"binary message: {len(data)} bytes, sha256 {digest}")
send_bytes_result(digest.encode("ascii"))
print("sent the sha256 as a result")
