"""The platform's CA added to the certificate bundles an image's Python clients trust.

Actors that call the API reach it through their execution's HTTPS relay
(``actors/api_relay.py``), whose certificate comes from the platform's own CA. Clients
that honour ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` find that CA at once; agavepy does
not (it verifies against certifi's bundle only), so an unchanged agavepy image would refuse
the relay. For such images the worker finds certifi's ``cacert.pem`` in the image's
layers on the Docker host (no container is run for it), writes that bundle plus the
platform's CA into the execution's scratch folder, and mounts the copy read-only over the
original for this one execution. The image itself is never changed; a bundle the image
made a symbolic link is left as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# Where pip and Debian put certifi's bundle, relative to the image's root.
BUNDLE_GLOBS = (
    "usr/local/lib/python3*/site-packages/certifi/cacert.pem",
    "usr/local/lib/python3*/dist-packages/certifi/cacert.pem",
    "usr/lib/python3*/site-packages/certifi/cacert.pem",
    "usr/lib/python3/dist-packages/certifi/cacert.pem",
    "opt/*/lib/python3*/site-packages/certifi/cacert.pem",
    "opt/*/envs/*/lib/python3*/site-packages/certifi/cacert.pem",
)


def bundles_in(layers: Iterable[Path]) -> dict[str, Path]:
    """certifi bundles in an image's layers (topmost first): container path -> host file.

    A path found in an upper layer hides the same path below it; a symbolic link (the image
    chose its own bundle) or anything but a regular file is left out.
    """
    found: dict[str, Path] = {}
    hidden: set[str] = set()
    for layer in layers:
        for pattern in BUNDLE_GLOBS:
            folder_pattern, _, name = pattern.rpartition("/")
            for folder in layer.glob(folder_pattern):      # a dangling link is still seen as one
                host = folder / name
                if not os.path.lexists(host):
                    continue
                inside = "/" + str(host.relative_to(layer))
                if inside in found or inside in hidden:
                    continue
                if host.is_symlink() or not host.is_file():
                    hidden.add(inside)
                    continue
                found[inside] = host
    return found


def binds(bundles: dict[str, Path], ca: Path, scratch: Path) -> list[tuple[str, str, bool]]:
    """Write each bundle with the CA appended into ``scratch``; the read-only mounts over them."""
    if not bundles:
        return []
    extra = ca.read_bytes()
    folder = scratch / "ca-bundles"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n, (inside, host) in enumerate(sorted(bundles.items())):
        copy = folder / f"{n}.pem"
        copy.write_bytes(host.read_bytes().rstrip(b"\n") + b"\n" + extra)
        os.chmod(copy, 0o644)             # containers run as any user
        out.append((str(copy), inside, True))
    return out
