"""The published OpenAPI description and the app's routes agree, both ways."""

from __future__ import annotations

import re

import schemathesis

from actors import config as config_mod
from actors.api import create_app
from actors.api.openapi import spec


class _Nothing:
    """Stands in for the stores and broker: building the app touches neither."""


def routes(tmp_path) -> set[tuple[str, str]]:
    cfg = config_mod.load(environ={"ABACO_GENERAL_DATA_DIR": str(tmp_path)})
    app = create_app(cfg, stores=_Nothing(), broker=_Nothing())
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def test_every_route_is_described_and_every_description_routed(tmp_path):
    described = {(path, method) for path, ops in spec()["paths"].items() for method in ops}
    served = routes(tmp_path)
    assert served - described == set(), "routes missing from actors/api/openapi.py"
    assert described - served == set(), "described operations with no route"


def test_the_document_is_valid_openapi():
    schema = schemathesis.from_dict(spec(), validate_schema=True)
    assert len(list(schema.get_all_operations())) == sum(len(ops) for ops in spec()["paths"].values())
