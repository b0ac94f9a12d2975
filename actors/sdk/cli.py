"""The ``abaco`` command: register actors, send messages, read what executions did.

Every subcommand takes ``--url`` (default ``$ABACO_URL`` or http://127.0.0.1:8000),
``--token`` (default ``$ABACO_TOKEN``) and, except ``send`` whose ``--json`` is the
message, ``--json`` to print the API's raw result instead of a table. ``abaco token``
mints a token locally from the platform's signing key, so it needs the platform's
configuration (abaco.conf) rather than the API.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

from actors.codes import Role
from actors.fields import ACTOR_FIELDS as ACTOR_TABLE
from actors.sdk.client import Client, ClientError, SyncReply, get_field

DEFAULT_URL = "http://127.0.0.1:8000"
ROLES = tuple(Role)
NO_JSON: Any = object()       # `send --json null` is a message, so None cannot mean "absent"


# ---------------------------------------------------------------- parsing

def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


def _common(json_flag: bool = True) -> argparse.ArgumentParser:
    """Options every subcommand accepts; SUPPRESS keeps the top-level values when absent."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--url", default=argparse.SUPPRESS,
                        help=f"API base URL (default: $ABACO_URL or {DEFAULT_URL})")
    parent.add_argument("--token", default=argparse.SUPPRESS,
                        help="bearer token (default: $ABACO_TOKEN)")
    if json_flag:
        parent.add_argument("--json", dest="raw_json", action="store_true", default=argparse.SUPPRESS,
                            help="print the API's raw JSON result")
    return parent


def build_parser() -> argparse.ArgumentParser:
    common, common_no_json = _common(), _common(json_flag=False)
    parser = argparse.ArgumentParser(prog="abaco", description="Use the actor platform from the command line.")
    parser.add_argument("--url", default=os.environ.get("ABACO_URL") or DEFAULT_URL,
                        help=f"API base URL (default: $ABACO_URL or {DEFAULT_URL})")
    parser.add_argument("--token", default=os.environ.get("ABACO_TOKEN"),
                        help="bearer token (default: $ABACO_TOKEN)")
    parser.add_argument("--json", dest="raw_json", action="store_true",
                        help="print the API's raw JSON result")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("token", parents=[common], help="mint a token (needs the platform's abaco.conf)",
                       description="Mint a signed token with the platform's key (read via abaco.conf).")
    p.add_argument("--user", required=True, help="user name the token is for")
    p.add_argument("--role", choices=ROLES, default="user", help="role (default: user)")
    p.add_argument("--tenant", default="default", help="tenant (default: default)")
    p.add_argument("--ttl", type=int, default=None, help="seconds the token is valid (default: [web] token_ttl)")
    p.set_defaults(func=cmd_token)

    actors = sub.add_parser("actors", help="list, create, read, update, delete actors",
                            description="Manage actors.")
    asub = actors.add_subparsers(dest="actors_command", metavar="ACTION", required=True)
    p = asub.add_parser("list", parents=[common], help="list your actors", description="List your actors.")
    p.set_defaults(func=cmd_actors_list)
    p = asub.add_parser("create", parents=[common], help="register an actor", description="Register an actor.")
    p.add_argument("--image", required=True, help="Docker image, e.g. abaco/echo:local")
    _actor_options(p)
    p.add_argument("--stateful", action="store_true", help="keep state between executions (one worker)")
    p.set_defaults(func=cmd_actors_create)
    p = asub.add_parser("get", parents=[common], help="show one actor", description="Show one actor.")
    p.add_argument("actor_id", metavar="ID")
    p.set_defaults(func=cmd_actors_get)
    p = asub.add_parser("update", parents=[common], help="change an actor's image or settings",
                        description="Update an actor; a new image (or --force) starts new workers.")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("--image", required=True, help="Docker image")
    p.add_argument("--force", action="store_true", help="restart workers even if the image is unchanged")
    _actor_options(p)
    p.set_defaults(func=cmd_actors_update)
    p = asub.add_parser("delete", parents=[common], help="delete an actor",
                        description="Delete an actor, its workers and executions.")
    p.add_argument("actor_id", metavar="ID")
    p.set_defaults(func=cmd_actors_delete)

    p = sub.add_parser("send", parents=[common_no_json], help="send a message (one execution)",
                       description="Send a message to an actor. Prints the execution id, or with "
                                   "--sync the execution's first result (else its logs).")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("message", nargs="?", help="a string message (form field 'message')")
    p.add_argument("--json", dest="json_message", type=_json_value, default=NO_JSON, metavar="JSON",
                   help="send this JSON document (application/json)")
    p.add_argument("--binary", metavar="FILE", help="send this file's bytes (application/octet-stream); "
                                                    "'-' reads standard input")
    p.add_argument("--env", type=_env_pair, action="append", default=[], metavar="K=V",
                   help="environment variable for this execution (repeatable)")
    p.add_argument("--sync", action="store_true", help="wait for the execution and print its output")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("executions", parents=[common], help="list an actor's executions",
                       description="List an actor's executions.")
    p.add_argument("actor_id", metavar="ID")
    p.set_defaults(func=cmd_executions)
    p = sub.add_parser("execution", parents=[common], help="show one execution",
                       description="Show one execution.")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("execution_id", metavar="EID")
    p.set_defaults(func=cmd_execution)
    p = sub.add_parser("logs", parents=[common], help="print an execution's logs",
                       description="Print an execution's logs. With -f, follow them as they are written "
                                   "until the execution ends, and exit with its exit code.")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("execution_id", metavar="EID")
    p.add_argument("-f", "--follow", action="store_true", help="follow the live log until the execution ends")
    p.add_argument("--tail", type=int, metavar="N", help="with -f: start N lines back")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("results", parents=[common], help="write an execution's next result to stdout",
                       description="Write the next result the execution sent to standard output, as "
                                   "raw bytes (each result is handed out once).")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("execution_id", metavar="EID")
    p.set_defaults(func=cmd_results)
    p = sub.add_parser("workers", parents=[common], help="list an actor's workers (or add some)",
                       description="List an actor's workers; --add N asks for N workers.")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("--add", type=int, metavar="N", help="ask for N workers")
    p.set_defaults(func=cmd_workers)
    p = sub.add_parser("state", parents=[common], help="show or set a stateful actor's state",
                       description="Print a stateful actor's state; --set replaces it.")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("--set", dest="new_state", type=_json_value, metavar="JSON", help="new state (JSON)")
    p.set_defaults(func=cmd_state)
    p = sub.add_parser("wait", parents=[common], help="wait until an execution finishes",
                       description="Poll until the execution is COMPLETE or ERROR. Exit status 0 "
                                   "when COMPLETE with exit code 0, 1 otherwise.")
    p.add_argument("actor_id", metavar="ID")
    p.add_argument("execution_id", metavar="EID")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (default: 300)")
    p.set_defaults(func=cmd_wait)
    return parser


_CLI_TYPES = {"posint": int, "nonnegint": int, "nonnegfloat": float, "weight": int}
_CLI_METAVARS = {"posint": "N", "nonnegint": "N", "nonnegfloat": "X", "weight": "N", "mem": "SIZE", "ref": "ACTOR",
                 "url": "URL", "events": "EVENT,...", "labels": "LABEL,..."}


def _dest(name: str) -> str:
    """Where an actor field's option lands (apart from the global options such as --token)."""
    return f"actor_{name}"


def _actor_options(p: argparse.ArgumentParser) -> None:
    """One option per field of the actor table marked for the command line (``--image`` aside)."""
    p.add_argument("--env", type=_env_pair, action="append", default=[], metavar="K=V",
                   help="default environment variable (repeatable)")
    for f in ACTOR_TABLE:
        if not f.cli or f.name == "image":
            continue
        flag = "--" + (f.cli if isinstance(f.cli, str) else f.name.replace("_", "-"))
        if f.kind == "bool":
            p.add_argument(flag, dest=_dest(f.name), action=argparse.BooleanOptionalAction, default=None, help=f.help)
        else:
            p.add_argument(flag, dest=_dest(f.name), type=_CLI_TYPES.get(f.kind, str), default=None, help=f.help,
                           metavar=_CLI_METAVARS.get(f.kind, "TEXT"))


def _actor_fields(args: argparse.Namespace) -> dict:
    """The fields the options set (options not given are left out)."""
    given = {f.name: getattr(args, _dest(f.name)) for f in ACTOR_TABLE
             if f.cli and f.name != "image" and getattr(args, _dest(f.name), None) is not None}
    if args.env:
        given["default_environment"] = dict(args.env)
    return given


# ---------------------------------------------------------------- output

def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    for row in [list(headers)] + cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_fields(doc: dict, names: Sequence[str]) -> None:
    """Known fields first (snake or camel case), then any others, one per line."""
    shown = []
    for name in names:
        value = get_field(doc, name, _MISSING)
        if value is not _MISSING:
            shown.append((name, value))
    known = set(names) | {_camel(n) for n in names}
    shown += [(k, v) for k, v in doc.items() if k not in known and not k.startswith("_")]
    width = max((len(k) for k, _ in shown), default=0)
    for key, value in shown:
        print(f"{key.ljust(width)}  {_cell(value)}")


_MISSING = object()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


ACTOR_FIELDS = ("id", "name", "image", "status", "status_message", "owner",
                *(f.name for f in ACTOR_TABLE if f.stored and f.name not in ("name", "image")),
                "revision", "create_time", "last_update_time", "state")
EXECUTION_FIELDS = ("id", "actor_id", "status", "status_message", "executor", "content_type",
                    "message_size", "exit_code", "message_received_time", "start_time", "finish_time",
                    "runtime", "cpu", "io", "worker_id", "revision")


# ---------------------------------------------------------------- commands

def cmd_token(client: Client, args: argparse.Namespace) -> int:
    from actors import auth, config  # platform modules: only this command needs them
    try:
        token = auth.issue_token(config.load(), args.user, args.role, args.tenant, args.ttl)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.raw_json:
        _print_json({"token": token, "user": args.user, "role": args.role, "tenant": args.tenant})
    else:
        print(token)
    return 0


def cmd_actors_list(client: Client, args: argparse.Namespace) -> int:
    actors = client.list_actors()
    if args.raw_json:
        _print_json(actors)
        return 0
    if not actors:
        print("no actors")
        return 0
    print_table([[get_field(a, "id"), get_field(a, "name"), get_field(a, "image"), get_field(a, "status"),
                  "no" if get_field(a, "stateless", True) else "yes", get_field(a, "owner")]
                 for a in actors], ["ID", "NAME", "IMAGE", "STATUS", "STATEFUL", "OWNER"])
    return 0


def _show_actor(actor: dict, args: argparse.Namespace) -> int:
    if args.raw_json:
        _print_json(actor)
    else:
        print_fields(actor, ACTOR_FIELDS)
    return 0


def cmd_actors_create(client: Client, args: argparse.Namespace) -> int:
    fields = _actor_fields(args)
    if args.stateful:
        fields["stateless"] = False
    return _show_actor(client.create_actor(args.image, **fields), args)


def cmd_actors_get(client: Client, args: argparse.Namespace) -> int:
    return _show_actor(client.get_actor(args.actor_id), args)


def cmd_actors_update(client: Client, args: argparse.Namespace) -> int:
    return _show_actor(client.update_actor(args.actor_id, args.image, force=args.force,
                                           **_actor_fields(args)), args)


def cmd_actors_delete(client: Client, args: argparse.Namespace) -> int:
    result = client.delete_actor(args.actor_id)
    if args.raw_json:
        _print_json(result)
    else:
        print(f"deleted actor {args.actor_id}")
    return 0


def _read_binary(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def cmd_send(client: Client, args: argparse.Namespace) -> int:
    kinds = [args.message is not None, args.json_message is not NO_JSON, args.binary is not None]
    if sum(kinds) != 1:
        print("error: give exactly one of MESSAGE, --json JSON or --binary FILE", file=sys.stderr)
        return 2
    kwargs: dict[str, Any] = {"env": dict(args.env)}
    if args.json_message is not NO_JSON:
        kwargs["json_message"] = args.json_message
    elif args.binary is not None:
        try:
            kwargs["binary"] = _read_binary(args.binary)
        except OSError as exc:
            print(f"error: cannot read {args.binary}: {exc}", file=sys.stderr)
            return 1
    else:
        kwargs["message"] = args.message
    if not args.sync:
        result = client.send_message(args.actor_id, **kwargs)
        if args.raw_json:
            _print_json(result)
        else:
            print(get_field(result, "execution_id"))
        return 0
    return _print_sync(client.send_sync(args.actor_id, **kwargs))


def _print_sync(reply: SyncReply) -> int:
    if not reply.finished:
        print(f"the execution {reply.execution_id} has not finished ({reply.status}); "
              f"check later with: abaco wait ID {reply.execution_id}", file=sys.stderr)
        return 1
    if reply.execution_id:
        print(f"execution {reply.execution_id}: {reply.status or 'finished'}", file=sys.stderr)
    _write_bytes(reply.body)
    return 0


def _write_bytes(data: bytes) -> None:
    """Text goes out as text (with a final newline on a terminal); other bytes unchanged."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    sys.stdout.write(text)
    if text and not text.endswith("\n") and sys.stdout.isatty():
        sys.stdout.write("\n")
    sys.stdout.flush()


def cmd_executions(client: Client, args: argparse.Namespace) -> int:
    result = client.list_executions(args.actor_id)
    if args.raw_json:
        _print_json(result)
        return 0
    executions = get_field(result, "executions") or []
    if not executions:
        print("no executions")
        return 0
    print_table([[get_field(e, "id"), get_field(e, "status"), get_field(e, "message_received_time"),
                  get_field(e, "start_time"), get_field(e, "finish_time")] for e in executions],
                ["ID", "STATUS", "RECEIVED", "STARTED", "FINISHED"])
    return 0


def cmd_execution(client: Client, args: argparse.Namespace) -> int:
    execution = client.get_execution(args.actor_id, args.execution_id)
    if args.raw_json:
        _print_json(execution)
    else:
        print_fields(execution, EXECUTION_FIELDS)
    return 0


def exit_status(end: dict) -> int:
    """The shell status for an execution's end: its exit code (0-255), else 0 if COMPLETE, else 1."""
    code = end.get("exitCode")
    if isinstance(code, int) and not isinstance(code, bool):
        return code & 0xFF
    return 0 if end.get("status") == "COMPLETE" else 1


def cmd_follow(client: Client, args: argparse.Namespace) -> int:
    out = sys.stdout.buffer
    for kind, value in client.follow_logs(args.actor_id, args.execution_id, args.tail):
        if kind == "end":
            print(f"execution {args.execution_id}: {value.get('status')} (exit code {_cell(value.get('exitCode'))})",
                  file=sys.stderr)
            return exit_status(value)
        out.write(value.encode("utf-8"))
        out.flush()
    return 1


def cmd_logs(client: Client, args: argparse.Namespace) -> int:
    if args.follow:
        return cmd_follow(client, args)
    logs = client.get_logs(args.actor_id, args.execution_id)
    if args.raw_json:
        _print_json({"logs": logs})
    else:
        _write_bytes(logs.encode("utf-8"))
    return 0


def cmd_results(client: Client, args: argparse.Namespace) -> int:
    data = client.get_result(args.actor_id, args.execution_id)
    if not data and sys.stdout.isatty():
        print("(no more results)", file=sys.stderr)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


def cmd_workers(client: Client, args: argparse.Namespace) -> int:
    if args.add is not None:
        result = client.add_workers(args.actor_id, args.add)
        if args.raw_json:
            _print_json(result)
        else:
            print(f"requested {get_field(result, 'requested', 0)} new worker(s)")
        return 0
    workers = client.list_workers(args.actor_id)
    if args.raw_json:
        _print_json(workers)
        return 0
    if not workers:
        print("no workers")
        return 0
    print_table([[get_field(w, "id"), get_field(w, "status"), get_field(w, "revision"), get_field(w, "host_id"),
                  get_field(w, "execution_id"), get_field(w, "last_execution_time")] for w in workers],
                ["ID", "STATUS", "REVISION", "HOST", "EXECUTION", "LAST EXECUTION"])
    return 0


def cmd_state(client: Client, args: argparse.Namespace) -> int:
    if args.new_state is not None:
        state = client.set_state(args.actor_id, args.new_state)
    else:
        state = client.get_state(args.actor_id)
    _print_json(state)
    return 0


def cmd_wait(client: Client, args: argparse.Namespace) -> int:
    try:
        execution = client.wait_execution(args.actor_id, args.execution_id, timeout=args.timeout)
    except TimeoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.raw_json:
        _print_json(execution)
    else:
        status = get_field(execution, "status")
        code = get_field(execution, "exit_code")
        message = get_field(execution, "status_message")
        print(f"execution {args.execution_id}: {status} (exit code {_cell(code)})"
              + (f": {message}" if message else ""))
    ok = get_field(execution, "status") == "COMPLETE" and get_field(execution, "exit_code") in (0, None)
    return 0 if ok else 1


# ---------------------------------------------------------------- entry point

def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``abaco`` command; the exit status is 0 on success."""
    args = build_parser().parse_args(argv)
    client = Client(args.url, args.token)
    try:
        return args.func(client, args)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.status in (400, 401) and not args.token:   # 400: Abaco's code for no credentials
            print("hint: set ABACO_TOKEN or pass --token (mint one with `abaco token --user NAME`)",
                  file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
