# telewatch image for docker-compose.yml (not built on the development machine: it has no Docker engine).
FROM python:3.11-slim
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY telewatch telewatch
COPY devstack devstack
COPY streams streams
COPY simulator simulator
COPY detectors detectors
COPY alerting alerting
COPY dashboards dashboards
COPY config config
RUN uv sync --locked --no-dev && useradd --system telewatch
USER telewatch
ENV PATH="/app/.venv/bin:$PATH"
ENTRYPOINT ["telewatch"]
