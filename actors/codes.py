"""Statuses of actors, workers and executions, event types, permission levels and roles: one Enum each.

Statuses are ``StrEnum`` members, so they are stored and compared as the plain strings
the Abaco API shows (``WorkerStatus.SPAWNER_SETUP == "SPAWNER SETUP"``). Levels are an
``IntEnum`` ordered NONE < READ < EXECUTE < UPDATE, so ``held >= Level.EXECUTE`` reads as
it means.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ActorStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    READY = "READY"
    ERROR = "ERROR"
    SHUTTING_DOWN = "SHUTTING_DOWN"


class WorkerStatus(StrEnum):
    """Names as in the Abaco API."""

    REQUESTED = "REQUESTED"
    SPAWNER_SETUP = "SPAWNER SETUP"
    READY = "READY"
    BUSY = "BUSY"
    STOPPING = "STOPPING"
    ERROR = "ERROR"


class ExecutionStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"


class EventType(StrEnum):
    """The events the platform emits for an actor (to its link and its webhook)."""

    ACTOR_READY = "ACTOR_READY"
    ACTOR_ERROR = "ACTOR_ERROR"
    EXECUTION_STARTED = "EXECUTION_STARTED"
    EXECUTION_COMPLETE = "EXECUTION_COMPLETE"


# Events emitted once per execution: a link forwarding more than one of them would double
# the executions at every hop of a chain.
EXECUTION_EVENTS = (EventType.EXECUTION_STARTED, EventType.EXECUTION_COMPLETE)

EXECUTION_TERMINAL = (ExecutionStatus.COMPLETE, ExecutionStatus.ERROR)
# Workers that are starting or running: they count against an actor's max_workers.
LIVE_WORKER = (WorkerStatus.REQUESTED, WorkerStatus.SPAWNER_SETUP, WorkerStatus.READY, WorkerStatus.BUSY)
STARTING_WORKER = (WorkerStatus.REQUESTED, WorkerStatus.SPAWNER_SETUP)


class Level(IntEnum):
    """What a caller may do with an actor, alias or config; each level includes the ones below."""

    NONE = 0
    READ = 1
    EXECUTE = 2
    UPDATE = 3

    @classmethod
    def named(cls, name: object) -> "Level | None":
        """The level called ``name`` (any case), or None."""
        if isinstance(name, str) and name.upper() in cls.__members__:
            return cls[name.upper()]
        return None


class Role(StrEnum):
    """What a caller may register: admins and privileged users may lift limits."""

    ADMIN = "admin"
    PRIVILEGED = "privileged"
    USER = "user"
    LIMITED = "limited"


PRIVILEGED_ROLES = (Role.ADMIN, Role.PRIVILEGED)
