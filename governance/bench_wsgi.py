"""WSGI entry of the gunicorn workers that `manage.py benchmark --only hot_endpoints` starts:
the project's application and middleware, with the URLconf the benchmark names in
GOVLOOP_BENCH_URLCONF (the project's URLs plus the constant floor views). Not for production:
it exists so that the floor runs in the same workers as the endpoints it is compared with."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.base")
application = get_wsgi_application()
# Read per request by the handler, so setting it before the first request is enough.
settings.ROOT_URLCONF = os.environ.get("GOVLOOP_BENCH_URLCONF", settings.ROOT_URLCONF)
