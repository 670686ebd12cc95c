# syntax=docker/dockerfile:1
# The product's Python image: one image for the Beam worker pool, the exporter and the job submitter, so the
# submitter and the workers that unpickle its functions share the same Python and apache-beam to the patch level.
#
#   docker build -f deploy/docker/python.Dockerfile -t engagement-reciprocity:0.1.0 .
#
# Build context: the repository root (.dockerignore keeps .venv, .cache and outputs out of it).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # pipelines/schemas.py reads the Avro contracts from schemas/ beside the package, which a wheel does not
    # carry: the source tree stays at /opt/reciprocity and comes first on the path, for the worker pool's
    # SDK workers too (they inherit this environment).
    PYTHONPATH=/opt/reciprocity

WORKDIR /opt/reciprocity

# Dependencies first, in their own layer: editing the code does not reinstall Beam.
COPY pyproject.toml README.md ./
COPY pipelines ./pipelines
COPY schemas ./schemas
RUN pip install --no-cache-dir . \
    && python -c "import apache_beam, pipelines.schemas; print('apache-beam', apache_beam.__version__)"

# The worker pool starts each SDK worker as the plain `python` on PATH: this image's, which has apache-beam.
# /var/lib/reciprocity: where an ingester keeps its resume state. A fresh named volume mounted there takes this
# directory's owner, so the unprivileged user can write it (Compose's ingest-bluesky service).
RUN useradd --system --uid 10001 --create-home --home-dir /home/reciprocity reciprocity \
    && install -d -o reciprocity -g reciprocity /var/lib/reciprocity
USER 10001

# Overridden per service: worker pool, exporter or submitter (see deploy/compose/compose.yaml).
CMD ["python", "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port=50000"]
