# abaco/core:local: one image for every platform process; its command names the process
# (abaco-api, abaco-spawner, abaco-health, abaco-accounting, abaco-clientg, abaco-events,
# abaco-tls). Built by `make image-core` (images/deploy.sh core), which first puts into the
# context the wheelhouse (build/core/wheels: the project's wheel, its dependencies' and
# pip's) and the Debian packages nginx and openssl need (build/core/debs): the build itself
# runs with no network.
FROM abaco/python3-base:local

# nginx (the HTTPS listener), openssl (certificates), curl and procps, from local .deb files.
COPY build/core/debs/ /tmp/debs/
RUN DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Debug::NoLocking=1 /tmp/debs/*.deb > /tmp/apt.log 2>&1 || { tail -n 30 /tmp/apt.log; exit 1; }; \
    rm -rf /tmp/debs /tmp/apt.log /var/log/apt /var/log/dpkg.log /var/cache/apt/*.bin

# The project's dependencies and console scripts, from the wheelhouse, with pip run from its
# own wheel (pip is not kept). The package itself is then served from /opt/abaco (a .pth
# file), so that the files it finds beside it (scripts/make_certs.sh, the nginx template,
# abaco.conf) are there too.
COPY build/core/wheels/ /tmp/wheels/
RUN python3 "$(ls /tmp/wheels/pip-*.whl)/pip" install --quiet --no-index --find-links /tmp/wheels \
        --no-cache-dir --disable-pip-version-check --root-user-action=ignore --break-system-packages \
        "$(ls /tmp/wheels/abaco_actors-*.whl)" \
    && site="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && rm -rf "$site/actors" /tmp/wheels \
    && echo /opt/abaco > "$site/abaco.pth"

COPY abaco.conf pyproject.toml /opt/abaco/
COPY scripts/make_certs.sh /opt/abaco/scripts/
COPY images/nginx/ /opt/abaco/images/nginx/
COPY images/core/ /usr/local/bin/
COPY actors/ /opt/abaco/actors/
RUN python3 -m compileall -q /opt/abaco/actors && python3 -c "import actors.services.api, docker, pika, redis, jwt" \
    && abaco-api --help > /dev/null

ENV ABACO_CONF=/opt/abaco/abaco.conf
WORKDIR /opt/abaco
CMD ["abaco-api"]
