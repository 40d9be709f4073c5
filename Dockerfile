# takeover: the server image. `docker compose up` builds it; alone:
#   docker build -t takeover . && docker run -p 8080:8080 takeover
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# README.md is copied because pyproject.toml names it as the package's readme.
WORKDIR /src
COPY pyproject.toml README.md policies.yml policies.test.yml ./
COPY takeover ./takeover
# takeover/defaults links to the example rules and policies: the package ships copies of them
COPY rules ./rules
RUN pip install '.[server]' && rm -rf /src

# The example rules and templates, so the image runs alone; compose mounts ./rules and
# ./templates over them so you edit them in place.
COPY rules /srv/rules
COPY takeover/defaults/templates /srv/templates

RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/takeover takeover
USER takeover
# The default SQLite file (takeover.db) lands here, writable by the takeover user.
WORKDIR /var/lib/takeover

# Listen on every interface: inside a container 127.0.0.1 is unreachable from outside it.
ENV TAKEOVER_HOST=0.0.0.0 \
    TAKEOVER_PORT=8080 \
    TAKEOVER_RULES=/srv/rules \
    TAKEOVER_TEMPLATES=/srv/templates
EXPOSE 8080

# slim has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('TAKEOVER_PORT', '8080'), timeout=3)"]

ENTRYPOINT ["takeover"]
CMD ["serve"]
