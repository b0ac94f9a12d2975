"""Running containers: ``docker.py`` (docker-py) and ``cgroups.py`` (cgroup v1 and v2)."""
