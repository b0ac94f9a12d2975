"""Statuses of actors, workers and executions, and permission levels."""

# Actor statuses
SUBMITTED = "SUBMITTED"
READY = "READY"
ERROR = "ERROR"
SHUTTING_DOWN = "SHUTTING_DOWN"

# Worker statuses (names as in the Abaco API)
REQUESTED = "REQUESTED"
SPAWNER_SETUP = "SPAWNER SETUP"
BUSY = "BUSY"
STOPPING = "STOPPING"
WORKER_STATUSES = (REQUESTED, SPAWNER_SETUP, READY, BUSY, STOPPING, ERROR)

# Execution statuses
RUNNING = "RUNNING"
COMPLETE = "COMPLETE"
EXECUTION_TERMINAL = (COMPLETE, ERROR)

# Permission levels, ordered
NONE = 0
READ = 1
EXECUTE = 2
UPDATE = 3
_LEVEL_NAMES = {NONE: "NONE", READ: "READ", EXECUTE: "EXECUTE", UPDATE: "UPDATE"}


def level_name(level: int) -> str:
    return _LEVEL_NAMES[level]
