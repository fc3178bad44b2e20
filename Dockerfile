# triaged: alert webhook receiver and automatic triage daemon.
#
#   docker build -t triaged .
#   docker run -e REDIS_URL=redis://redis:6379/0 -e TRIAGED_API_TOKEN=... -p 9797:9797 triaged
#   docker run -e REDIS_URL=redis://redis:6379/0 -e TRIAGED_PUBLIC_URL=... --no-healthcheck triaged worker
#
# REDIS_URL, TRIAGED_API_TOKEN, TRIAGED_PUBLIC_URL and TRIAGED_ACK_KEY come from the
# environment at run time; none is baked in. See README "Running apart".

# --- build: install the project into a venv, as the Makefile does ------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
WORKDIR /src
# Only what the package needs: pyproject (its readme is README.md) and the three packages
# (package data: rules/examples/**/*.yaml, receiver/incidents/*.lua).
COPY pyproject.toml README.md ./
COPY rules ./rules
COPY receiver ./receiver
COPY workers ./workers
# The Makefile runs `pip install -e '.[test]'` in .venv for development; the image
# installs the same project the same way (pip, venv), but as a regular install
# (`pip install .`) and without the test extras.
RUN /opt/venv/bin/pip install .

# --- runtime ----------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 triaged \
    && useradd --system --uid 10001 --gid triaged --home-dir /var/lib/triaged \
        --shell /usr/sbin/nologin triaged \
    && mkdir -p /var/lib/triaged /etc/triaged \
    && chown triaged:triaged /var/lib/triaged

COPY --from=build /opt/venv /opt/venv
# The example rules (log + webhook channels): mount your own over this directory.
COPY rules/examples/quickstart/ /etc/triaged/rules/

# `triaged run` keeps its embedded Redis under ./var: writable by the triaged user.
WORKDIR /var/lib/triaged
USER 10001:10001

EXPOSE 9797

# Liveness of the receiver (`serve`, `run`); slim has no curl. A `worker` container
# serves no HTTP: run it with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9797/alive', timeout=3)"]

ENTRYPOINT ["triaged"]
# Listening on 0.0.0.0 requires TRIAGED_API_TOKEN (or --insecure): triaged refuses otherwise.
CMD ["serve", "--rules", "/etc/triaged/rules", "--listen", "0.0.0.0:9797"]
