# telewatch image for docker-compose.yml (not built on the development machine: it has no Docker engine).
FROM python:3.11-slim
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
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
RUN uv sync --locked --no-dev && useradd --system telewatch
USER telewatch
ENV PATH="/app/.venv/bin:$PATH"
ENTRYPOINT ["telewatch"]
