# The service image: one image, the command picks the role (consume, project, api).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY storage ./storage
COPY schemas ./schemas
COPY consumers ./consumers
COPY projections ./projections
COPY api ./api
COPY service ./service
COPY outbox ./outbox
COPY config ./config
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 crm
USER crm

ENV CRM_STORE=postgres CRM_API_HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["crm-timeline", "api"]
