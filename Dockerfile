# TechScore scoring API: slim image, default model trained at build time, non-root.
#   docker build -t techscore .
#   docker run -p 8000:8000 -v techscore-data:/data techscore
#   docker exec <container> techscore keys create --role officer
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# LightGBM needs the OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY features ./features
COPY models ./models
COPY training ./training
COPY service ./service
RUN pip install . \
    && useradd --system --uid 10001 --create-home techscore \
    && mkdir -p /app/model /app/registry /data \
    && chown techscore:techscore /app/model /app/registry /data

USER techscore

# The default model (100k synthetic firms), trained once at build time and read-only afterwards,
# registered in the image's trusted-bundles registry (`techscore bundle trust` adds others).
ENV TECHSCORE_TRUSTED_BUNDLES_FILE=/app/registry/trusted_bundles.json
RUN techscore train -o /app/model --trust

# The audit database and the API-key hashes live on a volume so they outlive the container.
ENV TECHSCORE_MODEL_DIR=/app/model \
    TECHSCORE_DATABASE_URL=sqlite:////data/techscore.db \
    TECHSCORE_KEYS_FILE=/data/api_keys.json
VOLUME ["/data"]

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

CMD ["techscore", "serve", "--host", "0.0.0.0", "--port", "8000"]
