"""The real agavepy 0.9.5 client (from PyPI, unchanged) against the platform over HTTPS.

agavepy speaks HTTPS to ``{api_server}/actors/v2/...`` with camelCase bodies, and sends its
token only when ``api_server`` has no port (its authenticator compares the URL's host name
with ``host:port``): so the TLS proxy here listens on port 443 of a loopback address of its
own, with a server certificate of the project's CA naming that address. The API behind it
answers in camelCase (``[web] case = camel``), as Abaco's deployments did.
"""

from __future__ import annotations

import random
import socket
import subprocess
from pathlib import Path

import pytest
import requests
from agavepy import agave

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _free_loopback_address() -> str:
    """A 127.x.y.z address nobody listens on at port 443."""
    rng = random.Random()
    for _ in range(50):
        host = f"127.{rng.randint(1, 254)}.{rng.randint(0, 254)}.{rng.randint(1, 254)}"
        with socket.socket() as s:
            if s.connect_ex((host, 443)) != 0:
                return host
    raise AssertionError("no free loopback address for port 443")


@pytest.fixture(scope="module")
def server(platform, tmp_path_factory):
    certs = tmp_path_factory.mktemp("agavepy-certs")
    host = _free_loopback_address()
    subprocess.run([str(REPO / "scripts" / "make_certs.sh"), str(certs), "alice"], check=True,
                   capture_output=True, env={"PATH": "/usr/bin:/bin", "SERVER_SANS": f"IP:{host}"})
    api = platform.start_api("api-agavepy", {"ABACO_WEB_CASE": "camel"})
    url = platform.start_tls_proxy("nginx-agavepy", api, certs, mode="jwt", host=host, port=443)
    return {"url": url, "ca": str(certs / "ca.pem")}


def client(platform, server, user="alice", role="user"):
    return agave.Agave(api_server=server["url"], token=platform.token(user, role), verify=server["ca"])


@pytest.fixture(scope="module")
def ag(platform, server):
    return client(platform, server)


@pytest.fixture(scope="module")
def actor(platform, ag):
    made = ag.actors.add(body={"image": "abaco/echo:local", "name": "agavepy-echo",
                               "defaultEnvironment": {"GREETING": "hi"}})
    platform.wait_for(lambda: ag.actors.get(actorId=made["id"])["status"] == "READY",
                      what="the actor to be READY")
    return made


def wait_done(platform, ag, actor_id, execution_id):
    return platform.wait_for(
        lambda: (lambda e: e if e["status"] in ("COMPLETE", "ERROR") else None)(
            ag.actors.getExecution(actorId=actor_id, executionId=execution_id)),
        timeout=90, what=f"execution {execution_id}")


def test_add_get_list_in_camel_case(ag, actor, server):
    assert actor["owner"] == "alice" and actor["image"] == "abaco/echo:local"
    assert actor["defaultEnvironment"] == {"GREETING": "hi"}
    assert actor["_links"]["self"] == f"{server['url']}/actors/{actor['id']}"
    got = ag.actors.get(actorId=actor["id"])
    assert got["id"] == actor["id"] and got["status"] == "READY"
    assert actor["id"] in [a["id"] for a in ag.actors.list()]


def test_update(ag, actor):
    updated = ag.actors.update(actorId=actor["id"], body={"image": "abaco/echo:local",
                                                          "description": "changed by agavepy",
                                                          "defaultEnvironment": {"GREETING": "hello"}})
    assert updated["description"] == "changed by agavepy"
    assert ag.actors.get(actorId=actor["id"])["defaultEnvironment"] == {"GREETING": "hello"}


def test_send_raw_message_then_execution_and_logs(platform, ag, actor):
    sent = ag.actors.sendMessage(actorId=actor["id"], body={"message": "hello from agavepy"},
                                 environment={"EXTRA": "yes"})
    execution_id = sent["executionId"]
    done = wait_done(platform, ag, actor["id"], execution_id)
    assert done["status"] == "COMPLETE" and done["_links"]["logs"].endswith(f"/{execution_id}/logs")
    logs = ag.actors.getExecutionLogs(actorId=actor["id"], executionId=execution_id)["logs"]
    assert "Contents of MSG: hello from agavepy" in logs
    assert "EXTRA=yes" in logs
    listing = ag.actors.listExecutions(actorId=actor["id"])
    assert execution_id in [e["id"] for e in listing["executions"]]
    assert listing["actorId"] == actor["id"]


def test_send_json_message(platform, ag, actor):
    sent = ag.actors.sendMessage(actorId=actor["id"], body={"count": 3, "names": ["a", "b"]})
    done = wait_done(platform, ag, actor["id"], sent["executionId"])
    assert done["status"] == "COMPLETE"
    logs = ag.actors.getExecutionLogs(actorId=actor["id"], executionId=sent["executionId"])["logs"]
    assert "_abaco_Content_Type=application/json" in logs
    msg_line = next(line for line in logs.splitlines() if line.startswith("Contents of MSG:"))
    assert "count" in msg_line and "3" in msg_line


def test_workers_and_messages(ag, actor):
    workers = ag.actors.listWorkers(actorId=actor["id"])
    assert workers and all(w["status"] in ("READY", "BUSY") for w in workers)
    worker = ag.actors.getWorker(actorId=actor["id"], workerId=workers[0]["id"])
    assert worker["id"] == workers[0]["id"] and worker["cid"] and worker["tenant"] == "default"
    assert ag.actors.getMessages(actorId=actor["id"])["messages"] >= 0


def test_permissions(platform, ag, actor, server):
    before = ag.actors.getPermissions(actorId=actor["id"])
    assert before["alice"] == "UPDATE"
    after = ag.actors.updatePermissions(actorId=actor["id"], body={"user": "bob", "level": "READ"})
    assert after["bob"] == "READ"
    bob = client(platform, server, user="bob")
    assert bob.actors.get(actorId=actor["id"])["id"] == actor["id"]


def test_aliases(ag, actor):
    made = ag.actors.addAlias(body={"alias": "agavepy-alias", "actorId": actor["id"]})
    assert made["alias"] == "agavepy-alias" and made["actorId"] == actor["id"]
    assert "agavepy-alias" in [a["alias"] for a in ag.actors.listAliases()]
    assert ag.actors.getAlias(alias="agavepy-alias")["actorId"] == actor["id"]
    assert ag.actors.get(actorId="agavepy-alias")["id"] == actor["id"]
    ag.actors.deleteAlias(alias="agavepy-alias")
    assert "agavepy-alias" not in [a["alias"] for a in ag.actors.listAliases()]


def test_nonces(platform, ag, actor, server):
    nonce = ag.actors.addNonce(actorId=actor["id"], body={"maxUses": 2, "level": "READ"})
    assert nonce["level"] == "READ" and nonce["maxUses"] == 2 and nonce["actorId"] == actor["id"]
    assert nonce["roles"] == ["user"]
    assert nonce["id"] in [n["id"] for n in ag.actors.listNonces(actorId=actor["id"])]
    assert ag.actors.getNonce(actorId=actor["id"], nonceId=nonce["id"])["remainingUses"] == 2
    anonymous = agave.Agave(api_server=server["url"], use_nonce=True, verify=server["ca"])
    assert anonymous.actors.get(actorId=actor["id"], nonce=nonce["id"])["id"] == actor["id"]
    ag.actors.deleteNonce(actorId=actor["id"], nonceId=nonce["id"])
    assert nonce["id"] not in [n["id"] for n in ag.actors.listNonces(actorId=actor["id"])]


def test_a_new_actor_lists_its_worker_at_once(platform, ag):
    made = ag.actors.add(body={"image": "abaco/echo:local"})
    workers = ag.actors.listWorkers(actorId=made["id"])
    assert len(workers) == 1 and workers[0]["status"] in ("REQUESTED", "SPAWNER SETUP", "READY")
    platform.wait_for(lambda: ag.actors.listWorkers(actorId=made["id"])[0]["status"] == "READY",
                      what="the first worker to be READY")
    assert len(ag.actors.listWorkers(actorId=made["id"])) == 1
    ag.actors.delete(actorId=made["id"])


def test_state_of_a_stateful_actor(ag):
    made = ag.actors.add(body={"image": "abaco/echo:local", "stateless": False})
    assert ag.actors.getState(actorId=made["id"])["state"] == {}
    assert ag.actors.updateState(actorId=made["id"], body={"count": 1})["state"] == {"count": 1}
    assert ag.actors.getState(actorId=made["id"])["state"] == {"count": 1}
    ag.actors.delete(actorId=made["id"])


def test_errors_arrive_as_agave_exceptions(ag):
    with pytest.raises(requests.exceptions.HTTPError) as caught:
        ag.actors.get(actorId="no-such-actor")
    assert caught.value.response.status_code == 404
    assert caught.value.response.json()["status"] == "error"


def test_delete(platform, ag):
    made = ag.actors.add(body={"image": "abaco/echo:local"})
    ag.actors.delete(actorId=made["id"])
    assert made["id"] not in [a["id"] for a in ag.actors.list()]
