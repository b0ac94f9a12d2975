"""Sample actor: sends two results, a Python object and bytes, in that order."""

from actors.sdk import get_context, send_bytes_result, send_python_result

ctx = get_context()
message = ctx.raw_message
first = {"message": message, "length": len(message)}
second = b"result:" + message.encode("utf-8")
send_python_result(first)
print(f"sent python result: {first!r}")
send_bytes_result(second)
print(f"sent bytes result: {second!r}")
