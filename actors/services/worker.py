"""The worker process: one per actor instance, started by a spawner.

It consumes its actor's mailbox one message at a time and its own worker channel
(stop, kill an execution). The pika connection lives in the main thread, which also
sends heartbeats; each execution runs in a thread, and its message is acknowledged (on
the main thread) only after the execution's terminal record is written.

If RabbitMQ goes away the worker keeps its running execution going, reconnects with
backoff and, once that execution has ended, takes messages again. The broker has put
the running execution's message back by then; its copy finds the execution running (or
finished) and is parked or skipped, never run twice at once. If Redis goes away,
heartbeats are skipped until it is back.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from typing import Any

from actors import channels, prepared, times, warm, worker_clients
from actors.codes import WorkerStatus
from actors.config import Config
from actors.execution import ExecutionRun
from actors.installations import Installations
from actors.message import Message
from actors.runtime.cgroups import CgroupTree
from actors.runtime.docker import DockerRuntime
from actors.runtime.taskio import TaskIO
from actors.services import command_line, start, stop_event
from actors.store import Stores, StoreUnavailable, open_stores

log = logging.getLogger("worker")


class Worker:
    def __init__(self, config: Config, actor_id: str, worker_id: str, stores: Stores, broker: channels.Broker,
                 runtime: DockerRuntime, tree: CgroupTree, terminate: threading.Event | None = None,
                 taskio: TaskIO | None = None):
        self.config = config
        self.actor_id, self.worker_id = actor_id, worker_id
        self.stores, self.runtime, self.tree, self.taskio = stores, runtime, tree, taskio
        self.events = broker                        # events and accounting records
        self.terminate = terminate or threading.Event()
        self.stopping = False
        self.kill_running = False
        self.current: ExecutionRun | None = None
        self.thread: threading.Thread | None = None
        self.revision = 0
        self.conn: Any = None                       # the pika connection and channel, while connected
        self.channel: Any = None
        self.mailbox_tag: str | None = None
        self.generation = 0                         # bumps with every new connection
        self.finished: queue.Queue = queue.Queue()  # (generation, tag, outcome) from execution threads
        self.pidfile = config.worker_pidfile(worker_id)
        self.pipeline = prepared.Pipeline(config, stores, worker_id)   # the next message, made ready while one runs
        self.warm = warm.WarmPool(config, stores, runtime, tree, worker_id, actor_id)   # used by warm actors

    # ------------------------------------------------------------ lifecycle

    def register(self) -> dict | None:
        worker = self.stores.workers.update(self.worker_id, {
            "status": WorkerStatus.READY, "pid": os.getpid(), "location": self.config.spawner.host_id,
            "host_id": self.config.spawner.host_id,
            "ch_name": channels.worker_queue(self.config, self.worker_id),
            "last_health_check_time": times.now(), "ready_time": times.now()},   # ready_time: cold starts
            expect={"status": WorkerStatus.SPAWNER_SETUP})
        if worker is None:
            log.error("worker %s is not in SPAWNER SETUP (removed or stopped); exiting", self.worker_id)
            return None
        self.revision = worker.get("revision", 0)
        return worker

    def run(self) -> int:
        actor = self.stores.actors.find(self.actor_id)
        if actor is None or self.register() is None:
            return 1
        pause = 0.5
        try:
            while not (self.stopping and self.thread is None):
                try:
                    self._connect()
                    pause = 0.5
                    self._serve()
                except (channels.ChannelUnavailable, *channels.CONNECTION_ERRORS) as exc:
                    log.warning("worker %s lost RabbitMQ (%s); reconnecting in %.1f s", self.worker_id, exc, pause)
                    self._drop_connection()
                    self._idle(pause)
                    pause = min(pause * 2, 10.0)
        finally:
            self.cleanup()
        return 0

    def _connect(self) -> None:
        self.conn = channels.connect(self.config, attempts=1,
                                     name=f"{self.config.general.instance} worker {self.worker_id} pid {os.getpid()}")
        self.channel = self.conn.channel()
        self.channel.basic_qos(prefetch_count=self.pipeline.prefetch())
        self.generation += 1
        control = channels.worker_queue(self.config, self.worker_id)
        channels.declare(self.channel, control)
        self.channel.basic_consume(control, self.on_command)
        self.mailbox_tag = None
        if self.thread is None and not self.stopping:
            self._consume_mailbox()
        log.info("worker %s ready for actor %s revision %s", self.worker_id, self.actor_id, self.revision)

    def _consume_mailbox(self) -> None:
        mailbox = channels.actor_queue(self.config, self.actor_id)
        channels.declare(self.channel, mailbox)
        self.mailbox_tag = self.channel.basic_consume(mailbox, self.on_message)

    def _serve(self) -> None:
        next_beat = 0.0
        while True:
            self.conn.process_data_events(time_limit=0.2)
            self._settle()
            self._check_ahead()
            now = time.monotonic()
            if now >= next_beat:
                self.heartbeat()
                next_beat = now + self.config.workers.heartbeat_interval
            if self.terminate.is_set() and not self.stopping:
                self.begin_stop(kill_running=True, requeue=True, reason="SIGTERM")
            if self.stopping and self.thread is None:
                return

    def _idle(self, seconds: float) -> None:
        """Wait without a connection: keep heartbeating and let a running execution end."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._settle()
            self.heartbeat()
            if self.terminate.is_set() and not self.stopping:
                self.begin_stop(kill_running=True, requeue=True, reason="SIGTERM")
            if self.stopping and self.thread is None:
                return
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _drop_connection(self) -> None:
        try:
            if self.conn is not None and self.conn.is_open:
                self.conn.close()
        except Exception:  # noqa: BLE001 - the connection is broken already
            pass
        self.conn = self.channel = None
        self.mailbox_tag = None
        self.pipeline.release()          # the broker has put a held message back

    def heartbeat(self) -> None:
        self.warm.expire()
        fields = {"last_health_check_time": times.now()}
        try:
            updated = self.stores.workers.update(self.worker_id, fields)
        except StoreUnavailable as exc:
            log.warning("worker %s could not heartbeat: %s", self.worker_id, exc)
            return
        if updated is None:
            log.warning("worker record %s disappeared; stopping", self.worker_id)
            self.begin_stop(kill_running=True, reason="worker record removed")

    def begin_stop(self, kill_running: bool, reason: str, requeue: bool = False) -> None:
        """Take no new messages; kill the running execution too when asked."""
        if not self.stopping:
            log.info("worker %s stopping: %s", self.worker_id, reason)
        self.stopping = True
        try:
            self.stores.workers.update(self.worker_id, {"status": WorkerStatus.STOPPING})
        except StoreUnavailable:
            pass
        if self.mailbox_tag is not None:
            try:
                self.channel.basic_cancel(self.mailbox_tag)
            except (AttributeError, *channels.CONNECTION_ERRORS):
                pass
            self.mailbox_tag = None
        self._requeue_ahead()
        run = self.current
        if run is not None and kill_running:
            run.requeue = requeue
            run.kill_reason = run.kill_reason or f"stopped: {reason}"
            self._stop_container(run)

    def cleanup(self) -> None:
        self.warm.close()
        try:
            if self.conn is not None and self.conn.is_open:
                try:
                    self.channel.queue_delete(channels.worker_queue(self.config, self.worker_id))
                except channels.CONNECTION_ERRORS:
                    pass
                self.conn.close()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
        try:
            self.stores.workers.delete(self.worker_id)
            Installations(self.config, self.stores).remove("worker", self.worker_id)
            if self.stores.worker_clients.find(self.worker_id) is not None:
                worker_clients.release_client(self.config, self.events, self.worker_id)
        except StoreUnavailable as exc:
            log.warning("worker %s could not remove its record (%s); health will", self.worker_id, exc)
        self.pipeline.release()           # a held message: the closed connection gave it back
        self.pipeline.close()
        self.events.close()
        if self.taskio is not None:
            self.taskio.close()
        try:
            self.pidfile.unlink()
        except FileNotFoundError:
            pass
        log.info("worker %s exited", self.worker_id)

    # ------------------------------------------------------------ messages

    def on_message(self, channel, method, properties, body: bytes) -> None:
        try:
            self._take(channel, method, properties, body)
        except StoreUnavailable as exc:
            log.warning("worker %s cannot reach the store (%s); the message goes back", self.worker_id, exc)
            channel.basic_nack(method.delivery_tag, requeue=True)
            time.sleep(1.0)

    def _take(self, channel, method, properties, body: bytes) -> None:
        message = Message.from_amqp(properties.headers, body)
        if self.stopping:
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        if message.revision > self.revision:
            # A newer revision of the actor exists: leave the message to its workers.
            channel.basic_nack(method.delivery_tag, requeue=True)
            self.begin_stop(kill_running=False, reason=f"revision {message.revision} is current")
            return
        actor = self.stores.actors.find(self.actor_id)
        if actor is None:
            channel.basic_ack(method.delivery_tag)
            self.begin_stop(kill_running=True, reason="actor deleted")
            return
        if self.thread is not None:     # delivered while one runs (pipelining): held, made ready
            if self.pipeline.ahead is not None:
                channel.basic_nack(method.delivery_tag, requeue=True)
                return
            self.pipeline.hold(actor, self._new_run(actor, message), method.delivery_tag, self.generation)
            return
        self._begin(channel, actor, self._new_run(actor, message), method.delivery_tag)

    def _new_run(self, actor: dict, message: Message) -> ExecutionRun:
        return ExecutionRun(self.config, self.stores, self.runtime, actor, self.worker_id, message,
                            tree=self.tree, account=self.account, notify=self.events.publish_event,
                            taskio=self.taskio, warm=self.warm)

    def _begin(self, channel, actor: dict, run: ExecutionRun, tag: int, ahead: prepared.Ahead | None = None) -> None:
        if self.stores.workers.update(self.worker_id, {
                "status": WorkerStatus.BUSY, "execution_id": run.execution_id,
                "last_execution_time": times.now()}, expect={"status": WorkerStatus.READY}) is None:
            channel.basic_nack(tag, requeue=True)
            self.pipeline.discard(ahead)
            return
        self.current = run
        self.thread = threading.Thread(target=self._execute, args=(run, self.generation, tag, ahead),
                                       name=f"exec-{run.execution_id}", daemon=True)
        self.thread.start()

    def _promote(self) -> None:
        """On the main thread, once idle: the held message's turn (see actors/prepared.py)."""
        ahead = self.pipeline.take()
        if ahead is None:
            return
        if ahead.generation != self.generation or self.channel is None or not self.channel.is_open:
            self.pipeline.discard(ahead)         # its connection is gone: the broker put it back
            return
        if self.stopping:
            self.channel.basic_nack(ahead.tag, requeue=True)
            self.pipeline.discard(ahead)
            return
        actor = self.stores.actors.find(self.actor_id)
        if actor is None:
            self.channel.basic_ack(ahead.tag)
            self.pipeline.discard(ahead)
            self.begin_stop(kill_running=True, reason="actor deleted")
            return
        if not self.pipeline.fits(ahead, actor):    # the actor changed: prepare it again from now
            self.pipeline.discard(ahead)
            self._begin(self.channel, actor, self._new_run(actor, ahead.run.message), ahead.tag)
            return
        self._begin(self.channel, actor, ahead.run, ahead.tag, ahead)

    def _check_ahead(self) -> None:
        """A held message purged meanwhile is settled; one held too long goes back to the queue."""
        verdict = self.pipeline.check(self.worker_id)
        if verdict is None or self.channel is None or not self.channel.is_open:
            return
        ahead = self.pipeline.release()
        if ahead is None or ahead.generation != self.generation:
            return
        if verdict == "ended":
            self.channel.basic_ack(ahead.tag)
            return
        if self.mailbox_tag is not None:         # take no more until idle, so an idle worker gets it
            self.channel.basic_cancel(self.mailbox_tag)
            self.mailbox_tag = None
        self.channel.basic_nack(ahead.tag, requeue=True)

    def _requeue_ahead(self) -> None:
        ahead = self.pipeline.release()
        if ahead is not None and ahead.generation == self.generation and self.channel is not None:
            try:
                self.channel.basic_nack(ahead.tag, requeue=True)
            except channels.CONNECTION_ERRORS:
                pass

    def _execute(self, run: ExecutionRun, generation: int, tag: int, ahead: prepared.Ahead | None = None) -> None:
        outcome = "ack"
        try:
            record = run.run(ahead.wait()) if ahead is not None else run.run()
            if run.requeue:
                outcome = "requeue"
            elif record is not None:
                self.events.publish_event(
                    "EXECUTION_COMPLETE", {"actor_id": self.actor_id, "execution_id": run.execution_id,
                                           "status": record.get("status"),
                                           "exit_code": record.get("exit_code"),
                                           "link_depth": run.message.link_depth})
        except Exception:  # noqa: BLE001 - a platform fault: leave the message for a retry
            log.exception("execution %s failed in the worker", run.execution_id)
            outcome = "requeue"
        self.finished.put((generation, tag, outcome))
        conn = self.conn
        try:
            conn.add_callback_threadsafe(self._settle)   # wake the main thread now
        except Exception:  # noqa: BLE001 - no connection: the main loop settles it soon anyway
            pass

    def _settle(self) -> None:
        """On the main thread: settle finished executions' messages, become READY again."""
        while True:
            try:
                generation, tag, outcome = self.finished.get_nowait()
            except queue.Empty:
                return
            if generation == self.generation and self.channel is not None and self.channel.is_open:
                if outcome == "ack":
                    self.channel.basic_ack(tag)
                else:
                    self.channel.basic_nack(tag, requeue=True)
            # Else the connection it came on is gone and the broker has put the message back;
            # its copy will find the execution finished (or will run it again if requeued).
            self.current = None
            self.thread = None
            try:
                self.stores.workers.update(self.worker_id, {"execution_id": None, "cid": None})
                self.stores.workers.update(self.worker_id, {"status": WorkerStatus.READY}, expect={"status": WorkerStatus.BUSY})
            except StoreUnavailable as exc:
                log.warning("worker %s could not record that it is idle: %s", self.worker_id, exc)
            self._promote()
            if self.mailbox_tag is None and not self.stopping and self.channel is not None \
                    and self.channel.is_open:
                self._consume_mailbox()

    def account(self, record: dict) -> None:
        self.events.publish_json(channels.accounting_queue(self.config), record)

    # ------------------------------------------------------------ commands

    def on_command(self, channel, method, properties, body: bytes) -> None:
        command = channels.decode_json(body)
        channel.basic_ack(method.delivery_tag)
        kind = command.get("command")
        if kind == "stop":
            self.begin_stop(kill_running=bool(command.get("kill_running")),
                            reason=command.get("reason") or "asked to stop")
        elif kind == "kill_execution":
            run = self.current
            if run is not None and run.execution_id == command.get("execution_id"):
                run.kill_reason = "force-quit by a user request"
                self._stop_container(run)
        else:
            log.warning("unknown worker command %r", kind)

    def _stop_container(self, run: ExecutionRun) -> None:
        """Stop the execution's container without blocking the connection's thread."""
        def stop():
            for _ in range(50):          # the container may not exist yet
                if run.stopper is not None:   # a warm execution: end it, keep its container
                    run.stopper()
                    return
                if run.container_id:
                    self.runtime.stop(run.container_id, self.config.workers.stop_grace)
                    return
                if self.current is not run:
                    return
                time.sleep(0.1)
        threading.Thread(target=stop, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = command_line("abaco-worker", "Run one worker of an actor (normally started by the spawner).")
    parser.add_argument("--actor-id", required=True)
    parser.add_argument("--worker-id", required=True)
    args = parser.parse_args(argv)
    config = start("worker", args)
    tree = CgroupTree()
    # On cgroup v1, exact storage io comes from the kernel's exit records (v2 has io.stat).
    taskio = TaskIO.start() if tree.version == 1 else None
    worker = Worker(config, args.actor_id, args.worker_id, open_stores(config), channels.Broker(config),
                    DockerRuntime(config), tree, stop_event(), taskio)
    try:
        return worker.run()
    except Exception:  # noqa: BLE001 - log why the worker died before exiting
        log.exception("worker %s crashed", args.worker_id)
        worker.cleanup()
        return 1


if __name__ == "__main__":
    sys.exit(main())
