# One image for every Watchkeeper service: the command picks the role
# (`watchkeeper scheduler|executor|reporter|api|up`). Used by compose.yaml and deploy/k8s.
# tests/deploy/test_dockerfile.py builds the wheel from exactly what is copied here.

# Build stage: a wheel of the project (with its package data: the Lua scripts in
# shared/contract/lua, py.typed, dashboard assets), so the runtime image has no sources.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A fixed non-root uid/gid (10001), so volumes and Kubernetes' runAsUser agree on owners.
RUN groupadd --system --gid 10001 watchkeeper \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/watchkeeper \
      --shell /usr/sbin/nologin watchkeeper \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/watchkeeper /var/lib/watchkeeper/data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Relative paths in the config (data_dir: data, allowed_roots: [data], reports and
# rollback folders under data/) resolve here; mount the data volume on ./data.
WORKDIR /var/lib/watchkeeper
VOLUME ["/var/lib/watchkeeper/data"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["watchkeeper", "healthcheck"]
CMD ["watchkeeper", "up"]
