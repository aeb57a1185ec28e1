# notifier as a container service.
#   podman/docker build -t notifier .
#   docker run -d -p 8080:8080 -v notifier-data:/data notifier
# Config: mount a file at /etc/notifier/config.toml (or set NOTIFIER_CONFIG); secrets
# such as ${SLACK_WEBHOOK_URL} in it are read from the container's environment.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# EXTRAS="[postgres]" adds the PostgreSQL driver (compose.cluster.yaml).
ARG EXTRAS=""
COPY pyproject.toml README.md ./
COPY notifier ./notifier
RUN python3 -m venv /opt/notifier \
 && /opt/notifier/bin/pip install --upgrade pip \
 && /opt/notifier/bin/pip install ".${EXTRAS}"

FROM ${BASE_IMAGE}
ENV PATH=/opt/notifier/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    NOTIFIER_CONFIG=/etc/notifier/config.toml
RUN (getent group notifier || groupadd --system --gid 10001 notifier) \
 && (getent passwd notifier || useradd --system --uid 10001 --gid notifier \
        --home-dir /data --no-create-home --shell /usr/sbin/nologin notifier) \
 && mkdir -p /data /app \
 && chown notifier:notifier /data
COPY --from=build /opt/notifier /opt/notifier
COPY calendars /app/calendars
COPY config.example.toml /app/config.example.toml
COPY container/config.toml /etc/notifier/config.toml
WORKDIR /app
USER notifier
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["notifier"]
CMD ["run"]
