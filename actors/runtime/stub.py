"""An in-memory stand-in for ``DockerRuntime``, for unit tests of the processes' decisions.

It knows a set of images and a list of containers (with labels and a status) and records
what was removed, stopped and killed. It runs nothing. Never used outside tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors.runtime.docker import LABEL_INSTANCE, ImageNotFound


@dataclass
class StubContainer:
    id: str
    labels: dict = field(default_factory=dict)
    status: str = "running"


class StubRuntime:
    def __init__(self, instance: str = "abaco", images: tuple[str, ...] = ()):
        self.instance = instance
        self.images = set(images)
        self.running: list[StubContainer] = []
        self.removed: list[str] = []
        self.stopped: list[str] = []
        self.killed: list[str] = []

    def image_layers(self, image: str) -> list:
        return []

    def check_image(self, image: str) -> None:
        if image not in self.images:
            raise ImageNotFound(f"image {image!r} was not found")

    def add_container(self, container_id: str, status: str = "running", **labels: str) -> StubContainer:
        container = StubContainer(container_id, {LABEL_INSTANCE: self.instance,
                                                 **{f"abaco.{k}": v for k, v in labels.items()}}, status)
        self.running.append(container)
        return container

    def containers(self, **labels: str) -> list[StubContainer]:
        wanted = {f"abaco.{k}": v for k, v in labels.items()}
        return [c for c in self.running if all(c.labels.get(k) == v for k, v in wanted.items())]

    def remove(self, container_id: str) -> None:
        self.removed.append(container_id)
        self.running = [c for c in self.running if c.id != container_id]

    def stop(self, container_id: str, grace: int) -> None:
        self.stopped.append(container_id)

    def kill(self, container_id: str) -> None:
        self.killed.append(container_id)

    def close(self) -> None:
        pass
