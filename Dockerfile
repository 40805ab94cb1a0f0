# telewatch image for docker-compose.yml: the workers, the API and the simulator (docs/DEPLOY.md).
# Not built on the development machine (it has no Docker engine).
FROM python:3.11-slim
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
ENV PYTHONUNBUFFERED=1 UV_LINK_MODE=copy
# The locked dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
# The layers, bottom to top (docs/ARCHITECTURE.md), then the simulator and the local stack.
COPY core core
COPY runtime runtime
COPY streams streams
COPY detectors detectors
COPY alerting alerting
COPY telewatch telewatch
COPY simulator simulator
COPY devstack devstack
COPY dashboards dashboards
COPY config config
# stack.home of config/docker.yaml: the workers' local data and the simulator's ground truth, writable by the
# unprivileged user the processes run as (the code and its environment stay root's, read-only to them).
RUN uv sync --locked --no-dev \
    && useradd --system --home-dir /var/lib/telewatch --shell /usr/sbin/nologin telewatch \
    && install -d -o telewatch -g telewatch -m 750 /var/lib/telewatch
USER telewatch
ENV PATH="/app/.venv/bin:$PATH"
ENTRYPOINT ["telewatch"]
