from django.core.exceptions import ImproperlyConfigured

from governance.settings.base import *  # noqa: F403
from governance.settings.base import SECRET_KEY
from governance.settings.env import env_bool, env_int, env_str
from governance.settings.keys import key_problems

# base.py has already read DEBUG, and DEBUG=1 there also switches SECRET_KEY to the public
# development default: overriding it here would keep that key, so refuse to boot instead.
if env_bool("DEBUG", False):
    raise ImproperlyConfigured(
        "DEBUG=1 is refused by the production settings (it also selects the development "
        "SECRET_KEY): unset DEBUG"
    )
DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Production refuses to boot without its own, strong ledger key (no fallback to SECRET_KEY):
# a weak key lets anyone with database access re-sign a rewritten chain.
LEDGER_SIGNING_KEY = env_str("LEDGER_SIGNING_KEY")
_problems = key_problems(secret_key=SECRET_KEY, ledger_key=LEDGER_SIGNING_KEY)
if _problems:
    raise ImproperlyConfigured(
        "production refuses to boot: "
        + "; ".join(f"{problem.message} ({problem.id}: {problem.hint})" for problem in _problems)
    )
