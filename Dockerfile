# The environment that Prefect's docker and kubernetes workers start driftline's flow runs in.
# The project itself (the git + DVC checkout: params.yaml, dvc.lock, the DVC cache, registry/) is mounted
# at /driftline at run time; the editable install points there, so the mounted checkout's code is what runs
# and a `git pull` on it needs no new image unless requirements.lock changed.
#     docker build -t driftline:0.1.0 .
FROM python:3.11-slim

# libgomp1: LightGBM's OpenMP runtime (the boost stage, and the service's boosting member)
RUN apt-get update && apt-get install --yes --no-install-recommends git libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory /driftline  # the mounted checkout belongs to another user

WORKDIR /driftline
COPY requirements.lock ./
# PyPI's Linux torch wheel pulls the CUDA libraries (gigabytes); PyTorch's CPU index has torch==2.13.0+cpu
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps -e .

ENV BENTOML_HOME=/bentoml DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
