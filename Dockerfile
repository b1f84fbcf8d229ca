# One image for web, worker and model server. The model server's image is built with a CUDA
# torch (TORCH_INDEX_URL in docker-compose.yml); web and worker use the CPU build.
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/app/var

WORKDIR /app
RUN pip install --no-cache-dir torch==2.13.0 --index-url "$TORCH_INDEX_URL"
COPY pyproject.toml README.md ./
COPY assistant assistant
COPY safety safety
COPY modelserver modelserver
COPY kernels kernels
COPY frontend frontend
COPY manage.py ./
RUN pip install --no-cache-dir . \
 && DEBUG=0 ALLOWED_HOSTS=build SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput \
 && useradd --create-home app && mkdir -p var && chown -R app var
USER app
EXPOSE 8000 8001
