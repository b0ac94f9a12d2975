"""Redis backend for the Store interface.

Layout under the instance prefix ``P`` (``[general] instance``):
``P:<store>:d:<key>`` the JSON document, ``P:<store>:keys`` a set of keys,
``P:<store>:g:<group>`` a sorted set of a group's keys (scored by insertion order),
``P:<store>:groupof`` a hash key -> group. Multi-key writes run as Lua scripts and merges as WATCH/MULTI transactions, so
every write is atomic and two racing processes never see half of one.
"""

from __future__ import annotations

import functools
import json
import time

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from actors.config import Config
from actors.store import BlobStore, Store, StoreUnavailable

_PUT = """
local doc_key, keys_key, groupof_key = KEYS[1], KEYS[2], KEYS[3]
local key, doc, group, seq_key = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local only_new = ARGV[5] == '1'
if only_new and redis.call('EXISTS', doc_key) == 1 then return 0 end
redis.call('SET', doc_key, doc)
redis.call('SADD', keys_key, key)
if group ~= '' then
  redis.call('HSET', groupof_key, key, group)
  local seq = redis.call('INCR', seq_key)
  redis.call('ZADD', ARGV[6] .. group, 'NX', seq, key)
end
return 1
"""

_DELETE = """
local doc_key, keys_key, groupof_key = KEYS[1], KEYS[2], KEYS[3]
local key, group_prefix = ARGV[1], ARGV[2]
local existed = redis.call('DEL', doc_key)
redis.call('SREM', keys_key, key)
local group = redis.call('HGET', groupof_key, key)
if group then
  redis.call('ZREM', group_prefix .. group, key)
  redis.call('HDEL', groupof_key, key)
end
return existed
"""

_APPEND = """
local size = tonumber(redis.call('GET', KEYS[2]) or '0')
if size + string.len(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], string.len(ARGV[1]))
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return 1
"""


def document_key(instance: str, store: str, key: str) -> str:
    """Where a named store keeps one document (for readers outside this module, e.g. asyncio ones)."""
    return f"{instance}:{store}:d:{key}"


def blob_key(instance: str, blobs: str, key: str) -> str:
    """Where a named blob store keeps one value."""
    return f"{instance}:{blobs}:{key}"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _bytes(value) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _translate_errors(method):
    """Turn connection failures into StoreUnavailable so callers answer 503, not 500."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(f"the Redis store is unreachable: {exc}") from exc
        except redis.ResponseError as exc:
            # A full disk (MISCONF: the append-only file cannot be written), a loading or
            # read-only server: nothing was written, try again later.
            if str(exc).split(" ", 1)[0] in ("MISCONF", "LOADING", "READONLY", "BUSY"):
                raise StoreUnavailable(f"the Redis store cannot take writes now: {exc}") from exc
            raise
    return wrapper


class RedisBackend:
    """One connection pool shared by all the named stores of a process."""

    def __init__(self, config: Config):
        self.prefix = config.general.instance
        self.client = redis.Redis(
            host=config.store.redis_host, port=config.store.redis_port, db=config.store.redis_db,
            password=config.store.redis_password or None,
            socket_timeout=10, socket_connect_timeout=5, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=2, base=0.05), 6),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError])
        self._put = self.client.register_script(_PUT)
        self._delete = self.client.register_script(_DELETE)
        self._append = self.client.register_script(_APPEND)

    def store(self, name: str) -> "RedisStore":
        return RedisStore(self, f"{self.prefix}:{name}", name)

    def blobs(self, name: str) -> "RedisBlobStore":
        return RedisBlobStore(self, f"{self.prefix}:{name}")

    @_translate_errors
    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()

    @_translate_errors
    def signal(self, name: str, ttl: int = 3600) -> None:
        """Wake whoever waits on ``name`` (now or within ``ttl`` seconds)."""
        key = f"{self.prefix}:signal:{name}"
        pipe = self.client.pipeline()
        pipe.rpush(key, b"1")
        pipe.expire(key, ttl)
        pipe.execute()

    @_translate_errors
    def wait_signal(self, name: str, timeout: float) -> bool:
        """Block until ``name`` is signalled (True) or ``timeout`` seconds pass (False)."""
        key = f"{self.prefix}:signal:{name}"
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            # BLPOP in slices shorter than the socket timeout.
            if self.client.blpop([key], timeout=min(5.0, max(left, 0.01))):
                self.client.rpush(key, b"1")   # leave it for other waiters
                self.client.expire(key, 600)
                return True

    @_translate_errors
    def wait_any_signal(self, names: list[str], timeout: float) -> str | None:
        """Block until one of ``names`` is signalled (that name) or ``timeout`` seconds pass (None)."""
        keys = [f"{self.prefix}:signal:{name}" for name in names]
        deadline = time.monotonic() + timeout
        while keys:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            popped = self.client.blpop(keys, timeout=min(5.0, max(left, 0.01)))
            if popped:
                key = popped[0].decode() if isinstance(popped[0], bytes) else popped[0]
                self.client.rpush(key, b"1")   # leave it for other waiters
                self.client.expire(key, 600)
                return names[keys.index(key)]
        return None

    @_translate_errors
    def next_number(self, name: str) -> int:
        """The next value of a named sequence (1, 2, 3, ...), never handed out twice."""
        return int(self.client.incr(f"{self.prefix}:sequence:{name}"))

    @_translate_errors
    def flush_instance(self) -> None:
        """Delete every key of this instance (tests use their own instance)."""
        for key in self.client.scan_iter(match=f"{self.prefix}:*", count=500):
            self.client.delete(key)


class RedisStore(Store):
    def __init__(self, backend: RedisBackend, base: str, name: str):
        self.backend = backend
        self.r = backend.client
        self.base = base
        self.name = name

    def _doc(self, key: str) -> str:
        return f"{self.base}:d:{key}"

    def _fixed_keys(self, key: str) -> list[str]:
        return [self._doc(key), f"{self.base}:keys", f"{self.base}:groupof"]

    @_translate_errors
    def get(self, key: str) -> dict:
        raw = self.r.get(self._doc(key))
        if raw is None:
            raise KeyError(key)
        return json.loads(raw)

    @_translate_errors
    def get_many(self, keys: list[str]) -> list[dict | None]:
        if not keys:
            return []
        raws = self.r.mget([self._doc(k) for k in keys])
        return [json.loads(r) if r is not None else None for r in raws]

    def _write(self, key: str, doc: dict, group: str | None, only_new: bool) -> bool:
        args = [key, json.dumps(doc), group or "", f"{self.base}:seq", "1" if only_new else "0",
                f"{self.base}:g:"]
        return bool(self.backend._put(keys=self._fixed_keys(key), args=args))

    @_translate_errors
    def put(self, key: str, doc: dict, group: str | None = None) -> None:
        self._write(key, doc, group, only_new=False)

    @_translate_errors
    def put_many(self, docs: list[tuple[str, dict]], group: str | None = None) -> None:
        """Every write in one pipeline: one round trip instead of one per document."""
        pipe = self.r.pipeline(transaction=False)
        for key, doc in docs:
            args = [key, json.dumps(doc), group or "", f"{self.base}:seq", "0", f"{self.base}:g:"]
            self.backend._put(keys=self._fixed_keys(key), args=args, client=pipe)
        pipe.execute()

    @_translate_errors
    def create(self, key: str, doc: dict, group: str | None = None) -> bool:
        return self._write(key, doc, group, only_new=True)

    @_translate_errors
    def update(self, key: str, fields: dict, expect: dict | None = None) -> dict | None:
        # WATCH/MULTI rather than Lua: Lua's cjson would turn [] into {} and round
        # large integers (cpu nanoseconds), Python's json keeps documents exact.
        doc_key = self._doc(key)
        result: list[dict | None] = [None]

        def merge(pipe: redis.client.Pipeline) -> None:
            raw = pipe.get(doc_key)
            if raw is None:
                result[0] = None
                pipe.multi()
                return
            doc = json.loads(raw)
            if expect and any(doc.get(k) != v for k, v in expect.items()):
                result[0] = None
                pipe.multi()
                return
            doc.update(fields)
            result[0] = doc
            pipe.multi()
            pipe.set(doc_key, json.dumps(doc))

        self.r.transaction(merge, doc_key)
        return result[0]

    @_translate_errors
    def delete(self, key: str) -> bool:
        return bool(self.backend._delete(keys=self._fixed_keys(key), args=[key, f"{self.base}:g:"]))

    @_translate_errors
    def keys(self) -> list[str]:
        return sorted(_text(k) for k in self.r.smembers(f"{self.base}:keys"))

    @_translate_errors
    def group(self, group: str) -> list[str]:
        return [_text(k) for k in self.r.zrange(f"{self.base}:g:{group}", 0, -1)]

    @_translate_errors
    def drop_group(self, group: str) -> None:
        self.r.delete(f"{self.base}:g:{group}")


class RedisBlobStore(BlobStore):
    def __init__(self, backend: RedisBackend, base: str):
        self.backend = backend
        self.r = backend.client
        self.base = base

    @_translate_errors
    def set(self, key: str, value: bytes, ttl: int = 0) -> None:
        self.r.set(f"{self.base}:{key}", value, ex=ttl or None)

    @_translate_errors
    def get(self, key: str) -> bytes | None:
        return _bytes(self.r.get(f"{self.base}:{key}"))

    @_translate_errors
    def append_list(self, key: str, value: bytes, max_bytes: int, ttl: int = 0) -> bool:
        keys = [f"{self.base}:l:{key}", f"{self.base}:n:{key}"]
        return bool(self.backend._append(keys=keys, args=[value, max_bytes, max(0, int(ttl))]))

    @_translate_errors
    def pop_list(self, key: str) -> bytes | None:
        return _bytes(self.r.lpop(f"{self.base}:l:{key}"))

    @_translate_errors
    def delete(self, key: str) -> None:
        self.r.delete(f"{self.base}:{key}", f"{self.base}:l:{key}", f"{self.base}:n:{key}")
