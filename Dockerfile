# The production image: gunicorn serving governance.wsgi; the same image runs the Celery
# worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=governance.settings.production \
    GOVLOOP_VAR_DIR=/var/lib/govloop

WORKDIR /app
COPY pyproject.toml README.md ./
COPY clients/python ./clients/python
COPY governance ./governance
COPY calibration ./calibration
COPY learning ./learning
COPY tripwire ./tripwire
COPY templates ./templates
COPY manage.py ./
RUN pip install ./clients/python . \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin govloop \
    # collectstatic needs settings, not secrets: the base settings (production refuses
    # throwaway keys) and a throwaway value for the build step only.
    && DJANGO_SETTINGS_MODULE=governance.settings.base SECRET_KEY=build-only \
       python manage.py collectstatic --noinput -v 0 \
    # The anchors volume is mounted here: create it owned by the app user so it stays so.
    && mkdir -p /var/lib/govloop/anchors \
    && chown -R govloop /var/lib/govloop /app/staticfiles

USER govloop
EXPOSE 8000
CMD ["gunicorn", "governance.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
