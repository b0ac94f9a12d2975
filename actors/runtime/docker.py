"""Running actor containers with docker-py.

Every container the platform starts carries labels naming the instance, actor,
worker and execution, so whatever a crash leaves behind can be found and removed.
"""

from __future__ import annotations

import codecs
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import docker
import docker.errors
from docker.types import Mount

from actors.config import Config
from actors.runtime import oci_runtime

log = logging.getLogger(__name__)

LABEL_INSTANCE = "abaco.instance"
LABEL_ACTOR = "abaco.actor_id"
LABEL_WORKER = "abaco.worker_id"
LABEL_EXECUTION = "abaco.execution_id"


class ImageNotFound(Exception):
    """The actor's image is not on this Docker host (and there is no registry to pull from)."""


class RuntimeUnavailable(Exception):
    """The Docker engine did not answer."""


@dataclass
class ContainerSpec:
    image: str
    environment: dict[str, str]
    labels: dict[str, str]
    cgroup_parent: str
    network_mode: str = "none"
    mem_limit: str | None = None
    nano_cpus: int | None = None
    binds: list[tuple[str, str, bool]] = field(default_factory=list)  # host, container, read_only
    privileged: bool = False
    pids_limit: int | None = None
    user: str | None = None                   # uid[:gid]; None: the image's user
    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    read_only: bool = False
    tmpfs: dict = field(default_factory=dict)
    entrypoint: list[str] | None = None       # None: the image's own (a warm container runs its runner)


def log_file_bytes(max_log_length: int) -> int:
    """The most Docker keeps of one container's json-file log on disk.

    Room for ``max_log_length`` bytes of output in json-file's wrapping (about 70 bytes a
    line): ten times it, at least 1 MiB, so output of lines of 8 bytes or more is kept
    from its start up to the cut. Past it Docker starts the file again (max-file=1): no
    container ever holds more than this on the disk.
    """
    return max(10 * max_log_length, 1 << 20)


def client(config: Config) -> docker.DockerClient:
    try:
        return docker.from_env(timeout=120)
    except docker.errors.DockerException as exc:
        raise RuntimeUnavailable(f"the Docker engine is unreachable: {exc}") from exc


def read_capped(stream, limit: int, on_text: Callable[[str], None] | None = None) -> tuple[str, bool]:
    """Text from a stream of byte chunks, up to ``limit`` bytes; (text, truncated).

    The stream is closed as soon as the limit is passed; a character cut in two at the
    limit is left out rather than mangled. ``on_text`` gets each piece of the text as it
    is read (the pieces, joined, are the text returned).
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    taken, truncated = 0, False
    try:
        for chunk in stream:
            room = limit - taken
            if len(chunk) > room:
                parts.append(decoder.decode(chunk[:room], final=False))
                truncated = True
                break
            parts.append(decoder.decode(chunk, final=False))
            taken += len(chunk)
            if on_text is not None:
                on_text(parts[-1])
        if not truncated:
            parts.append(decoder.decode(b"", final=True))
        if on_text is not None:
            on_text(parts[-1])
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    return "".join(parts), truncated


class LogReader(threading.Thread):
    """Reads a running container's output as it comes, up to a limit.

    Following from the start keeps the first ``limit`` bytes even when Docker's capped
    log file (max-file=1) has started again under a flood of output; once the limit is
    reached the stream is closed and nothing more is held.
    """

    def __init__(self, container, limit: int, on_text: Callable[[str], None] | None = None):
        super().__init__(daemon=True, name=f"logs-{container.id[:12]}")
        self.container, self.limit, self.on_text = container, limit, on_text
        self.text, self.truncated = "", False
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            stream = self.container.logs(stdout=True, stderr=True, stream=True, follow=True)
            self.text, self.truncated = read_capped(stream, self.limit, self.on_text)
        except Exception as exc:       # the engine went away, or a long silence timed the stream out
            self.error = exc


class DockerRuntime:
    def __init__(self, config: Config):
        self.config = config
        self.docker = client(config)
        self._oci: tuple[str | None] | None = None      # the runtime chosen, once asked

    def oci_runtime(self) -> str | None:
        """The runtime of execution containers: ``[workers] runtime`` if the engine has it (see oci_runtime)."""
        if self._oci is None:
            registered, default = oci_runtime.engine_runtimes(self.docker.info())
            self._oci = (oci_runtime.choose(self.config.workers.runtime, registered, default),)
        return self._oci[0]

    def image_layers(self, image: str) -> list[Path]:
        """The image's layer folders on this host, topmost first ([] unless overlay2, or unreadable)."""
        try:
            driver = self.docker.api.inspect_image(image).get("GraphDriver") or {}
        except docker.errors.DockerException:
            return []
        if driver.get("Name") != "overlay2":
            return []
        data = driver.get("Data") or {}
        folders = [data.get("UpperDir") or ""] + (data.get("LowerDir") or "").split(":")
        return [Path(f) for f in folders if f and Path(f).is_dir()]

    def check_image(self, image: str) -> None:
        """Raise ImageNotFound unless the image is present locally."""
        try:
            self.docker.images.get(image)
        except docker.errors.ImageNotFound:
            raise ImageNotFound(f"image {image!r} was not found on Docker host "
                                f"{self.config.spawner.host_id}; build or load it there first "
                                f"(no registry is reachable)") from None
        except docker.errors.APIError as exc:
            raise RuntimeUnavailable(f"the Docker engine failed to look up {image!r}: {exc}") from exc

    def start(self, spec: ContainerSpec, on_created: Callable[[str], None] | None = None):
        """Create and start the container; returns the docker-py Container.

        ``on_created(container_id)`` runs between the two, before any process of it exists.
        """
        container = self.create(spec, on_created)
        self.start_created(container)
        return container

    def start_created(self, container) -> None:
        """Start a container ``create`` made; it is removed if it cannot start."""
        try:
            container.start()
        except BaseException:
            self.remove(container.id)
            raise

    def create(self, spec: ContainerSpec, on_created: Callable[[str], None] | None = None):
        """Create the container (not started); ``on_created(container_id)`` runs right after."""
        mounts = [Mount(target=c, source=h, type="bind", read_only=ro) for h, c, ro in spec.binds]
        kwargs = dict(
            image=spec.image, environment=spec.environment, labels=spec.labels,
            cgroup_parent=spec.cgroup_parent, network_mode=spec.network_mode, mounts=mounts,
            detach=True, privileged=spec.privileged, stdin_open=False, tty=False,
            log_config={"type": "json-file", "config": {
                "max-size": str(log_file_bytes(self.config.workers.max_log_length)), "max-file": "1"}},
        )
        if spec.mem_limit:
            kwargs["mem_limit"] = spec.mem_limit
        if spec.nano_cpus:
            kwargs["nano_cpus"] = spec.nano_cpus
        if spec.pids_limit:
            kwargs["pids_limit"] = spec.pids_limit
        if spec.user:
            kwargs["user"] = spec.user
        if spec.cap_drop:
            kwargs["cap_drop"] = list(spec.cap_drop)
        if spec.cap_add:
            kwargs["cap_add"] = list(spec.cap_add)
        if spec.security_opt:
            kwargs["security_opt"] = list(spec.security_opt)
        if spec.read_only:
            kwargs["read_only"] = True
        if spec.tmpfs:
            kwargs["tmpfs"] = dict(spec.tmpfs)
        runtime = self.oci_runtime()
        if runtime:
            kwargs["runtime"] = runtime
        if spec.entrypoint is not None:
            kwargs.update(entrypoint=list(spec.entrypoint), command=[])
        container = self.docker.containers.create(**kwargs)
        try:
            if on_created is not None:
                on_created(container.id)
        except BaseException:
            self.remove(container.id)
            raise
        return container

    def follow_logs(self, container, limit: int, on_text: Callable[[str], None] | None = None) -> LogReader:
        """Start reading the container's output as it runs (see ``logs``); ``on_text`` gets it as it comes."""
        reader = LogReader(container, limit, on_text)
        reader.start()
        return reader

    def logs(self, container, limit: int, reader: LogReader | None = None) -> tuple[str, bool]:
        """Stdout and stderr of an exited container as text, cut at ``limit`` bytes; (text, truncated).

        What ``reader`` followed, when it reached the limit; else the log read now as a
        stream (follow=False), unless what the reader followed is longer. (The engine may end
        a follow stream a little before a fast-exiting container's last lines; the read at
        the end has them.) Never more than ``limit`` bytes (and one chunk) are held per read.
        """
        followed: tuple[str, bool] | None = None
        if reader is not None:
            reader.join(timeout=10)
            if not reader.is_alive() and reader.error is None:
                if reader.truncated:
                    return reader.text, True
                followed = (reader.text, False)
        text, truncated = read_capped(container.logs(stdout=True, stderr=True, stream=True, follow=False), limit)
        if followed is not None and not truncated and len(followed[0]) > len(text):
            return followed
        return text, truncated

    def remove(self, container_id: str) -> None:
        try:
            self.docker.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                log.warning("could not remove container %s: %s", container_id[:12], exc)

    def stop(self, container_id: str, grace: int) -> None:
        try:
            self.docker.api.stop(container_id, timeout=grace)
        except docker.errors.NotFound:
            pass

    def kill(self, container_id: str) -> None:
        try:
            self.docker.api.kill(container_id)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            log.warning("could not kill container %s: %s", container_id[:12], exc)

    def containers(self, **labels: str) -> list:
        """Containers (running or not) carrying all of the given label values."""
        filters = {"label": [f"{LABEL_INSTANCE}={self.config.general.instance}"] +
                   [f"abaco.{k}={v}" for k, v in labels.items()]}
        try:
            return self.docker.containers.list(all=True, filters=filters, ignore_removed=True)
        except docker.errors.APIError as exc:
            raise RuntimeUnavailable(str(exc)) from exc

    def close(self) -> None:
        self.docker.close()
