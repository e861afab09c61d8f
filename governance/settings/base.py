"""One settings module, read from the environment. Unset services mean the embedded default:
SQLite, local-memory cache and Celery on a filesystem broker."""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from governance.settings.env import env_bool, env_int, env_list, env_str
from governance.settings.keys import DEV_LEDGER_SIGNING_KEY, DEV_SECRET_KEY

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("GOVLOOP_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_fsm",
    "governance",
    "calibration",
    "learning",
    "tripwire",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "governance.middleware.GoLiveMiddleware",
    "governance.api.hygiene.QueryStringHygieneMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'govloop.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
except Exception as exc:  # dj-database-url raises several types for a bad URL
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
# Fail closed, in bounded time: every Redis client gives up after REDIS_TIMEOUT seconds
# (connect, and each read or write) and the caller falls back to the database. Without these
# a hung Redis (SIGSTOP, a dropped network path) hangs every request that touches the cache.
# redis-py retries nothing here (no retry_on_timeout, no Retry object), so one cache call
# waits at most REDIS_TIMEOUT for the connect plus REDIS_TIMEOUT per command.
REDIS_TIMEOUT = 0.25
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "govloop",
            # Django's RedisCache passes OPTIONS to redis-py's ConnectionPool.from_url.
            "OPTIONS": {
                "socket_timeout": REDIS_TIMEOUT,
                "socket_connect_timeout": REDIS_TIMEOUT,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "admin:login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.permissions.IsTenantPrincipal"],
    # governance.api.hygiene: NUL bytes, lone surrogates, out-of-range numbers and deep nesting
    # are a 400 before any serializer sees them.
    "DEFAULT_PARSER_CLASSES": [
        "governance.api.hygiene.JSONParser",
        "governance.api.hygiene.FormParser",
        "governance.api.hygiene.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "govloop API",
    "DESCRIPTION": "Governance control plane for systems that learn.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc come from our own static files (drf-spectacular-sidecar, pinned in
    # pyproject.toml), never from a CDN: the docs work offline and do not change under us.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No call-outs to the public validator either.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Several apps have a field called "kind" or "outcome": name each choice set explicitly.
    "ENUM_NAME_OVERRIDES": {
        "FindingKindEnum": "calibration.models.pipeline.FindingKind",
        "ProposalKindEnum": "learning.models.loop.ProposalKind",
        "TimelineKindEnum": "learning.models.proofs.TimelineKind",
        "MetricKindEnum": "tripwire.models.regression.MetricKind",
        "PreventionOutcomeEnum": "learning.models.proofs.PreventionOutcome",
        "ReservationOutcomeEnum": "governance.models.levers.ReservationOutcome",
    },
}

# Celery: Redis when REDIS_URL is set, otherwise a filesystem broker that needs no service.
CELERY_BROKER_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": 3600,
        # A publish (task.delay() after a commit) on a hung or lost Redis gives up in bounded
        # time instead of waiting forever; the worker's BRPOP is read by its event loop only
        # once the socket is readable, so this short timeout does not cut long polls.
        "socket_timeout": REDIS_TIMEOUT,
        "socket_connect_timeout": REDIS_TIMEOUT,
    }
    CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT
    # A Redis result backend, should one be configured, gets the same bounds.
    CELERY_REDIS_SOCKET_TIMEOUT = REDIS_TIMEOUT
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_TIMEOUT
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
        # The exchange-to-queue tables; kombu's default is ./control in the working directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
# A publish retries once, 0.1 s later (Celery's default is 3 retries up to 1 s apart): a
# request that dispatches work after its commit is delayed by at most about 4 * REDIS_TIMEOUT
# + 0.1 s when the broker is gone, and the work is picked up again by its scheduled sweep.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0.1,
    "interval_step": 0,
    "interval_max": 0.1,
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540, minimum=1)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# A worker's claim on a training job is a lease it renews every third of this while it trains;
# a job whose lease ran out (its worker died) is claimed again by a redelivery or the beat.
TRAINING_JOB_LEASE_SECONDS = env_int("TRAINING_JOB_LEASE_SECONDS", 45, minimum=3)

# The ledger's anchoring key lives only in the environment, never in the database.
LEDGER_SIGNING_KEY = env_str("LEDGER_SIGNING_KEY", DEV_LEDGER_SIGNING_KEY if DEBUG else SECRET_KEY)
LEDGER_ANCHOR_FILE = Path(env_str("LEDGER_ANCHOR_FILE", str(VAR_DIR / "ledger-anchors.jsonl")))
# Seconds between scheduled anchorings (the beat task seeded by migration 0003 runs every 5
# minutes); verify_ledger fails a chain whose unanchored tail is older than this.
LEDGER_ANCHOR_INTERVAL = env_int("LEDGER_ANCHOR_INTERVAL", 300, minimum=1)

# Directory for exported artifacts (snapshots, reports, proposals, failure analyses).
GOVLOOP_ARTIFACT_DIR = Path(env_str("GOVLOOP_ARTIFACT_DIR", str(VAR_DIR / "artifacts")))
GOVLOOP_PRIVACY_K = env_int("GOVLOOP_PRIVACY_K", 5, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "client_error_without_traceback": {
            "()": "governance.log_filters.ClientErrorWithoutTraceback"
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"filters": ["client_error_without_traceback"]}},
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
if not REDIS_URL:
    # The filesystem broker does not create its folders; every process (web, worker) does.
    for _folder in ("queue", "processed", "control"):
        (CELERY_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
