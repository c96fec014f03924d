# syntax=docker/dockerfile:1
# sttwatch: the scheduler, status page, /metrics and /healthz in one container.
#   docker build -t sttwatch .
#   docker run -e ASSEMBLYAI_API_KEY=... -p 8080:8080 -v sttwatch-data:/var/lib/sttwatch sttwatch
# See docs/docker.md (and docker-compose.yml for Prometheus + Grafana + the simulator).

ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

# ---- build: a wheel of sttwatch and of every dependency ---------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor/ monitor/
# monitor/templates is a symlink to templates/: with both copied, the wheel carries
# the status page templates inside the package (pyproject's package-data).
COPY templates/ templates/
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels .

# ---- runtime: the wheels installed, no compiler, no source tree -------------------
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# /var/lib/sttwatch/public: where agents sharing one database mount one volume for
# the page the leader writes (deploy/compose.yaml); a new volume takes this owner.
RUN groupadd --system --gid 10001 sttwatch \
 && useradd --system --uid 10001 --gid sttwatch --home-dir /var/lib/sttwatch \
      --no-create-home --shell /usr/sbin/nologin sttwatch \
 && install -d -o sttwatch -g sttwatch -m 0750 /var/lib/sttwatch /var/lib/sttwatch/public \
 && install -d -m 0755 /etc/sttwatch

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --disable-pip-version-check --no-index --find-links=/wheels \
      /wheels/sttwatch-*.whl

# The default configuration: AssemblyAI US with the key from $ASSEMBLYAI_API_KEY.
# Mount your own over it (docker-compose.yml mounts the simulator demo's).
COPY docker/sttwatch.yaml /etc/sttwatch/sttwatch.yaml

# The SQLite database and the rendered status site.
VOLUME ["/var/lib/sttwatch"]
WORKDIR /var/lib/sttwatch
USER 10001:10001

# The configs listen on 0.0.0.0:8080: status page, /metrics, /healthz, /api/v1/results.
EXPOSE 8080

# slim has no curl; urlopen raises (exit 1) on a 503 or no answer. The start period
# covers the first cycle, which /healthz waits for.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["sttwatch"]
CMD ["run", "-c", "/etc/sttwatch/sttwatch.yaml"]
