#!/bin/bash
# Build the base and sample actor images locally; no image registry is needed.
#
#   images/build.sh [--force]
#
# Every image is tagged abaco/<name>:local. Base images that exist are kept unless
# --force is given. Images built by `docker build` (the SDK layer and the samples) carry
# a label with the hash of their inputs (their files plus the parent image id) and are
# rebuilt whenever it changes, so editing the SDK or a sample needs no --force.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
FORCE=0
LABEL="org.abaco.inputs-sha256"
SAMPLES_BUSYBOX=(echo sleep)
SAMPLES_PYTHON=(pyactor result binary agavepy pyfunc)
# Wheels go into images with pip run from its own wheel (the images have no pip, and their
# builds no network): this pip, downloaded on the host with them.
PIP_INSTALLER="pip==26.3"

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

log() { echo "== $*" >&2; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_id() { docker image inspect -f '{{.Id}}' "$1"; }

# Remove the image a rebuild replaced, if nothing else uses it (errors are ignored).
drop_old() {
    local old="$1" tag="$2"
    if [ -n "$old" ] && [ "$old" != "$(image_id "$tag")" ]; then
        docker rmi "$old" >/dev/null 2>&1 || true
    fi
}

old_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

image_label() {
    docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true
}

# The hash of a parent image id and some files (paths relative to $2), one line.
inputs_hash() {
    local parent="$1" dir="$2"; shift 2
    { image_id "$parent"; (cd "$dir" && sha256sum "$@"); } | sha256sum | cut -d' ' -f1
}

build_busybox() {
    local tag=abaco/busybox:local
    if exists "$tag" && [ "$FORCE" = 0 ]; then log "$tag exists"; return; fi
    [ -x /bin/busybox ] || { echo "/bin/busybox missing: apt-get install busybox-static" >&2; exit 1; }
    log "building $tag from /bin/busybox"
    local old
    old="$(old_id "$tag")"
    local root="$WORK/busybox-rootfs"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,dev,proc,sys,var/tmp}
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    ln -s ../../bin/busybox "$root/usr/bin/env"       # for '#!/usr/bin/env sh' scripts
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 0700 "$root/root"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        > "$root/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n' > "$root/etc/group"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -c . \
        | docker import --change 'ENV PATH=/bin:/sbin:/usr/bin' --change 'CMD ["sh"]' - "$tag" >/dev/null
    drop_old "$old" "$tag"
}

build_python_base() {
    local tag=abaco/python3-base:local
    if exists "$tag" && [ "$FORCE" = 0 ]; then log "$tag exists"; return; fi
    command -v mmdebstrap >/dev/null || { echo "mmdebstrap missing: apt-get install mmdebstrap" >&2; exit 1; }
    log "building $tag with mmdebstrap (Debian bookworm, python3)"
    local old
    old="$(old_id "$tag")"
    # mmdebstrap already drops apt's lists and cache; leave out docs, man pages and translations too.
    mmdebstrap --quiet --variant=minbase --include=python3 \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        bookworm - \
        | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV PYTHONUNBUFFERED=1' --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
            - "$tag" >/dev/null
    drop_old "$old" "$tag"
}

# The host's pip (the project's virtualenv's, else python3's).
host_pip() {
    if [ -x "$REPO/.venv/bin/python" ]; then "$REPO/.venv/bin/python" -m pip "$@"; else python3 -m pip "$@"; fi
}

# fetch_wheels REQUIREMENTS DEST: the pinned wheels (no dependencies resolved: the file
# lists them all) for the Python of abaco/python3-base:local, and pip's own wheel.
fetch_wheels() {
    local requirements="$1" dest="$2" version
    version="$(docker run --rm --network none abaco/python3-base:local \
        python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    log "downloading the wheels of ${requirements#"$REPO"/} for Python $version"
    mkdir -p "$dest"
    host_pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version "$version" --implementation cp --abi "cp${version/./}" \
        --platform "manylinux2014_$(uname -m)" -d "$dest" -r "$requirements" "$PIP_INSTALLER"
}

# docker build with an inputs label; skip when the label already matches.
#   build_labelled TAG PARENT CONTEXT_DIR HASH [REQUIREMENTS]
# With REQUIREMENTS, their wheels are downloaded into CONTEXT_DIR/wheels first.
build_labelled() {
    local tag="$1" parent="$2" context="$3" hash="$4" requirements="${5:-}"
    if [ "$FORCE" = 0 ] && exists "$tag" && [ "$(image_label "$tag")" = "$hash" ]; then
        log "$tag is up to date"; return
    fi
    [ -z "$requirements" ] || fetch_wheels "$requirements" "$context/wheels"
    log "building $tag (FROM $parent)"
    local old out   # the legacy builder warns about deprecation on every run; show output only on failure
    old="$(old_id "$tag")"
    if ! out="$(docker build --quiet --network none --label "$LABEL=$hash" -t "$tag" "$context" 2>&1)"; then
        echo "$out" >&2
        exit 1
    fi
    drop_old "$old" "$tag"
}

build_python_sdk() {
    local context="$WORK/python3-sdk"
    local files=(actors/__init__.py actors/sdk/__init__.py actors/sdk/actor.py)
    mkdir -p "$context/actors/sdk"
    for f in "${files[@]}"; do cp "$REPO/$f" "$context/$f"; done
    cp "$HERE/python3/Dockerfile" "$HERE/python3/requirements.txt" "$context/"
    local hash
    hash="$(inputs_hash abaco/python3-base:local "$context" Dockerfile requirements.txt "${files[@]}")"
    build_labelled abaco/python3:local abaco/python3-base:local "$context" "$hash" "$context/requirements.txt"
}

# A sample with a requirements.txt gets its wheels in its (copied) build context; one with
# a repo-files.txt gets the repository files it lists (paths from the repository's root).
build_sample() {
    local name="$1" parent="$2" dir="$HERE/samples/$1"
    local files context="$WORK/sample-$1" requirements="" f
    cp -r "$dir" "$context"
    if [ -f "$dir/repo-files.txt" ]; then
        while read -r f; do
            [ -n "$f" ] || continue
            mkdir -p "$context/$(dirname "$f")" && cp "$REPO/$f" "$context/$f"
        done < "$dir/repo-files.txt"
    fi
    mapfile -t files < <(cd "$context" && find . -type f | sort)
    [ ! -f "$context/requirements.txt" ] || requirements="$context/requirements.txt"
    build_labelled "abaco/$name:local" "$parent" "$context" "$(inputs_hash "$parent" "$context" "${files[@]}")" \
        "$requirements"
}

build_busybox
build_python_base
build_python_sdk
for name in "${SAMPLES_BUSYBOX[@]}"; do build_sample "$name" abaco/busybox:local; done
for name in "${SAMPLES_PYTHON[@]}"; do build_sample "$name" abaco/python3:local; done
log "done: $(docker images --format '{{.Repository}}:{{.Tag}}' 'abaco/*' | sort | tr '\n' ' ')"
