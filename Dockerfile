# The service image: one image, the command picks the role (consume, project, api).
FROM python:3.11-slim

WORKDIR /app
# The locked dependencies first (exact versions and hashes: what CI tested), in their
# own layer, so a change to the code alone does not reinstall them.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY history ./history
COPY access ./access
COPY operations ./operations
COPY generators ./generators
COPY storage ./storage
COPY schemas ./schemas
COPY consumers ./consumers
COPY projections ./projections
COPY predictions ./predictions
COPY api ./api
COPY service ./service
COPY outbox ./outbox
COPY messaging ./messaging
COPY exports ./exports
COPY webhooks ./webhooks
COPY config ./config
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --uid 10001 crm
USER crm

ENV CRM_STORE=postgres CRM_API_HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["crm-timeline", "api"]
