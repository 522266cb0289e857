# Slim image, non-root. Dependencies come from requirements.lock, each file
# checked against its hash; the app goes on top without resolving anything.
# Migrations are not run here: docker-compose.yml runs them once per deploy
# in a one-shot `migrate` service (`alerts migrate`) before the server starts.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/alerts

# Its own layer: a code change does not reinstall the dependencies.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-deps . && useradd --system --uid 10001 --home /srv/alerts alerts
COPY alembic.ini ./
COPY migrations ./migrations
RUN chown -R alerts /srv/alerts

USER alerts
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
# Workers: WEB_CONCURRENCY (uvicorn reads it; default 1). See docker-compose.yml.
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--limit-concurrency", "1000", "--backlog", "2048", "--timeout-keep-alive", "75", "--timeout-graceful-shutdown", "10"]
