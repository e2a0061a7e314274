# Image for the api, migrate, worker and beat services of docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY routing_rules ./routing_rules
COPY dispatcher ./dispatcher
COPY hotline ./hotline
COPY workers ./workers
RUN pip install . && useradd --system --home /app hotline
USER hotline
EXPOSE 8000
CMD ["python", "-m", "hotline", "serve", "--host", "0.0.0.0", "--port", "8000"]
