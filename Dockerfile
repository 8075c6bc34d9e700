# syntax=docker/dockerfile:1
# ccc controller image: `make image` (docker build). Two stages: the builder installs the pinned
# runtime dependencies (requirements/image.txt, from `pip freeze`) and the ccc wheel into a
# virtualenv; the final stage copies only that virtualenv onto python:3.11-slim and runs as the
# unprivileged user 65532 (the chart's securityContext expects that uid).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/ccc
# Dependencies first: this layer is reused until the pins change.
COPY requirements/image.txt requirements/image.txt
RUN /opt/ccc/bin/pip install --no-cache-dir -r requirements/image.txt
COPY pyproject.toml README.md ./
COPY ccc ccc
COPY policies policies
COPY providers providers
# Build the wheel, then install it against the same pins (--no-deps: nothing unpinned sneaks in).
RUN /opt/ccc/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && /opt/ccc/bin/pip install --no-cache-dir --no-deps -c requirements/image.txt /wheels/ccc-*.whl \
    && /opt/ccc/bin/pip check

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ccc" \
      org.opencontainers.image.description="Capacity-obtainability controller for accelerator workloads on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/ccc-dev/ccc"
ENV PATH=/opt/ccc/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/ccc /opt/ccc
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["ccc", "run"]
