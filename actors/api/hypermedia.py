"""The ``_links`` every record carries, as Abaco gives them: absolute URLs on the request's host.

Pure functions of a base URL (``common.base_url()``) and a stored document, so they can be
tested without an app. The owner's link is Abaco's profile URL of that user.
"""

from __future__ import annotations


def owner(base: str, user: str | None) -> str:
    return f"{base}/profiles/v2/{user or ''}"


def actor(base: str, doc: dict) -> dict:
    own = f"{base}/actors/{doc['id']}"
    return {"self": own, "owner": owner(base, doc.get("owner")), "executions": f"{own}/executions"}


def execution(base: str, doc: dict) -> dict:
    own = f"{base}/actors/{doc['actor_id']}/executions/{doc['id']}"
    return {"self": own, "owner": owner(base, doc.get("executor") or doc.get("owner")), "logs": f"{own}/logs"}


def worker(base: str, doc: dict, actor_owner: str | None) -> dict:
    on_actor = f"{base}/actors/{doc['actor_id']}"
    return {"self": f"{on_actor}/workers/{doc['id']}", "actor": on_actor, "owner": owner(base, actor_owner)}


def nonce(base: str, doc: dict) -> dict:
    if doc.get("kind") == "alias":
        on = f"{base}/actors/aliases/{doc['object_id']}"
    else:
        on = f"{base}/actors/{doc['object_id']}"
    key = "alias" if doc.get("kind") == "alias" else "actor"
    return {"self": f"{on}/nonces/{doc['id']}", key: on, "owner": owner(base, doc.get("owner"))}


def logs(base: str, doc: dict) -> dict:
    """A search hit of kind ``logs`` (execution_id, actor_id, logs)."""
    run = f"{base}/actors/{doc['actor_id']}/executions/{doc['execution_id']}"
    return {"self": f"{run}/logs", "execution": run}
