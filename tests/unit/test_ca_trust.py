"""The platform's CA added to an image's certifi bundles for one execution (actors/ca_trust.py)."""

import os

from actors import ca_trust

BUNDLE = "usr/local/lib/python3.11/site-packages/certifi/cacert.pem"


def layer(root, files=None, links=None):
    for path, text in (files or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for path, target in (links or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / path)
    return root


def test_the_topmost_bundle_is_found_and_copied_with_the_ca(tmp_path):
    upper = layer(tmp_path / "upper", {BUNDLE: "NEWER PUBLIC ROOTS\n"})
    debian = "usr/lib/python3/dist-packages/certifi/cacert.pem"
    lower = layer(tmp_path / "lower", {BUNDLE: "OLDER\n", debian: "DEB\n"})
    found = ca_trust.bundles_in([upper, lower])
    assert found == {"/" + BUNDLE: upper / BUNDLE, "/" + debian: lower / debian}
    ca = tmp_path / "ca.pem"
    ca.write_text("PLATFORM CA\n")
    mounts = ca_trust.binds(found, ca, tmp_path / "scratch")
    by_target = {inside: open(host).read() for host, inside, read_only in mounts if read_only}
    assert by_target["/" + BUNDLE] == "NEWER PUBLIC ROOTS\nPLATFORM CA\n"
    assert len(mounts) == 2


def test_an_image_that_chose_its_own_bundle_keeps_it(tmp_path):
    upper = layer(tmp_path / "upper", links={BUNDLE: "/_abaco_ca.pem"})
    lower = layer(tmp_path / "lower", {BUNDLE: "OLDER\n"})
    assert ca_trust.bundles_in([upper, lower]) == {}
    assert ca_trust.binds({}, tmp_path / "ca.pem", tmp_path / "scratch") == []
