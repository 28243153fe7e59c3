# Accord: the gateway, the ledger peer and the demo partner agencies, in one image.
# The image runs the same `accord` commands the test suite runs:
#   docker run accord                          -> accord serve (the gateway, port 4000, with the
#                                                 supergraph `accord compose` wrote to the data dir)
#   docker run accord agency health --port 4001 -> a demo agency
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install Accord and its dependencies into a virtualenv -------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/accord
COPY pyproject.toml README.md ./
COPY app ./app
COPY schema ./schema
COPY ledger ./ledger
COPY examples ./examples
RUN /opt/accord/bin/pip install ".[postgres]" \
    && /opt/accord/bin/accord --help > /dev/null

# ---- runtime: the virtualenv only, run as an unprivileged user ----------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/accord/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ACCORD_DATA_DIR=/var/lib/accord \
    ACCORD_HOST=0.0.0.0 \
    ACCORD_PORT=4000
RUN groupadd --system --gid 10001 accord \
    && useradd --system --uid 10001 --gid accord --home-dir /var/lib/accord \
       --shell /usr/sbin/nologin accord \
    && mkdir -p /var/lib/accord \
    && chown accord:accord /var/lib/accord
COPY --from=build /opt/accord /opt/accord
USER 10001:10001
WORKDIR /var/lib/accord
VOLUME ["/var/lib/accord"]
EXPOSE 4000
# The slim image has no curl: ask /healthz with the interpreter that is there anyway.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ACCORD_PORT', '4000'), timeout=2)"]
ENTRYPOINT ["accord"]
CMD ["serve", "--supergraph", "/var/lib/accord/supergraph.graphql", "--port", "4000"]
