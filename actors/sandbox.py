"""What an actor's container may do: its user, its capabilities, its file system, its mounts.

Every container (but a privileged actor's, which only privileged users may register)
runs with ``no-new-privileges`` and without the capabilities ``[workers] cap_drop``
names (``ALL`` by default; ``cap_add`` gives a few back); its root file system is
read-only when the actor sets ``read_only_root`` (``/tmp`` stays writable, in memory).

The user it runs as:
- ``use_container_uid``: the image's own user (whatever its USER line says);
- ``run_as_executor``: the UID ``[workers] uid_map`` gives the user who sent the message;
- otherwise the UID ``uid_map`` gives the actor's owner, else ``[workers] default_uid``
  (65534, nobody, by default: never root); when that is emptied, the image's user.

Host directories reach a container only through ``[workers] mounts``, a list of
``host:container:ro|rw`` where ``{username}`` in the host path is the actor's owner.
A user-supplied host path is never mounted; a templated path that would leave its
parent (``..``, a symlink pointing elsewhere, a user name with ``/``) is refused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from actors.config import Config

log = logging.getLogger(__name__)


class MountRefused(Exception):
    """A configured mount that would leave the directory it is meant for."""


@dataclass(frozen=True)
class Confinement:
    user: str | None                       # "uid[:gid]" or None for the image's user
    cap_drop: tuple[str, ...]
    cap_add: tuple[str, ...]
    security_opt: tuple[str, ...]
    read_only: bool
    tmpfs: dict
    binds: tuple[tuple[str, str, bool], ...]   # host, container, read_only


def parse_uid_map(text: str | tuple) -> dict[str, str]:
    """``alice:1000, bob:1001:1001`` -> {"alice": "1000", "bob": "1001:1001"}."""
    entries = text if isinstance(text, tuple) else tuple(e for e in text.split(",") if e.strip())
    out = {}
    for entry in entries:
        name, _, ids = entry.strip().partition(":")
        parts = ids.split(":")
        if not name or not ids or not all(p.isdigit() for p in parts) or len(parts) > 2:
            raise ValueError(f"[workers] uid_map entry {entry!r} is not user:uid or user:uid:gid")
        out[name] = ids
    return out


def parse_mounts(entries: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    """``/data/{username}:/work:rw`` entries -> (host template, container path, read_only)."""
    out = []
    for entry in entries:
        parts = entry.strip().split(":")
        if len(parts) not in (2, 3) or not parts[0].startswith("/") or not parts[1].startswith("/"):
            raise ValueError(f"[workers] mounts entry {entry!r} is not /host/path:/container/path[:ro|rw]")
        mode = parts[2] if len(parts) == 3 else "ro"
        if mode not in ("ro", "rw"):
            raise ValueError(f"[workers] mounts entry {entry!r}: the mode must be ro or rw")
        out.append((parts[0], parts[1], mode == "ro"))
    return out


def resolve_mount(template: str, username: str) -> str:
    """The host path of a mount for ``username``; MountRefused if it escapes its parent."""
    if "{username}" not in template:
        return template
    if not username or "/" in username or username in (".", "..") or "\0" in username:
        raise MountRefused(f"user name {username!r} cannot name a directory")
    parent = Path(template.split("{username}", 1)[0]).resolve()
    path = Path(template.replace("{username}", username))
    real = path.resolve()
    if real != parent and parent not in real.parents:
        raise MountRefused(f"{path} leaves {parent}")
    return str(real)


def user_for(config: Config, actor: dict, executor: str) -> str | None:
    if actor.get("use_container_uid"):
        return None
    uid_map = parse_uid_map(config.workers.uid_map)
    who = executor if actor.get("run_as_executor") else str(actor.get("owner") or "")
    return uid_map.get(who) or config.workers.default_uid or None


def confine(config: Config, actor: dict, executor: str) -> Confinement:
    """How the container of one execution is confined."""
    privileged = bool(actor.get("privileged"))
    binds = []
    for template, target, read_only in parse_mounts(config.workers.mounts):
        try:
            host = resolve_mount(template, actor.get("owner", ""))
        except MountRefused as exc:
            log.warning("mount %s not given to actor %s: %s", template, actor.get("id"), exc)
            continue
        if not os.path.isdir(host):
            log.debug("mount %s not given to actor %s: %s is not a directory", template, actor.get("id"), host)
            continue
        binds.append((host, target, read_only))
    return Confinement(
        user=user_for(config, actor, executor),
        cap_drop=() if privileged else tuple(c.upper() for c in config.workers.cap_drop),
        cap_add=() if privileged else tuple(c.upper() for c in config.workers.cap_add),
        security_opt=() if privileged else ("no-new-privileges",),
        read_only=bool(actor.get("read_only_root")),
        tmpfs={"/tmp": "rw,nosuid,nodev,size=256m"} if actor.get("read_only_root") else {},
        binds=tuple(binds),
    )

