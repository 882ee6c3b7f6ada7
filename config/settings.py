"""Settings for the organizing platform.

Everything comes from the environment. With nothing set the project runs in
its *embedded* configuration (SQLite under DATA_DIR, in-memory channel layer,
Celery tasks executed eagerly, email printed to the console). Setting
DATABASE_URL and REDIS_URL switches to the *production* configuration
(PostgreSQL, channels-redis, Celery workers on Redis).

Bad values fail loudly at start-up instead of silently falling back.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent


# --- paths and secrets -------------------------------------------------------

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _persisted_secret_key() -> str:
    """Generate SECRET_KEY once and keep it in DATA_DIR (embedded mode)."""
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(50)
    # Create the file readable by its owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


SECRET_KEY = env_str("SECRET_KEY") or _persisted_secret_key()
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long")

DEBUG = env_bool("DEBUG", False)


def _served_url() -> str:
    """Where `make run` serves: http://HOST:PORT (the Makefile exports both).
    A server listening on every interface is reached here as 127.0.0.1."""
    host = env_str("HOST", "127.0.0.1").strip("[]")
    port = env_int("PORT", 8000, minimum=1)
    if port > 65535:
        raise ImproperlyConfigured(f"PORT={port} is not a TCP port")
    if host in ("0.0.0.0", "::"):  # noqa: S104 - compared, not bound
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# Public base URL, used in emails, Open Graph tags, QR codes and the
# verification address printed in every petition. Without SITE_URL: where
# `make run` serves, so links carry the HOST and PORT it was started with.
SITE_URL = (env_str("SITE_URL") or _served_url()).rstrip("/")
SERVE_HTTPS = env_bool("HTTPS", SITE_URL.startswith("https://"))


def _default_allowed_hosts() -> list[str]:
    """This machine's names, and the host of SITE_URL (served too)."""
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    site_host = urlparse(SITE_URL).hostname or ""
    if ":" in site_host:
        site_host = f"[{site_host}]"
    if site_host and site_host not in hosts:
        hosts.append(site_host)
    return hosts


ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", _default_allowed_hosts())
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- applications ------------------------------------------------------------

INSTALLED_APPS = [
    "daphne",
    # Django's admin behind allauth and a second factor (organizing.admin_site).
    "organizing.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # allauth's WebAuthn pages need humanize (a 500 otherwise that `check` misses).
    "django.contrib.humanize",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    # allauth.usersessions is deliberately NOT installed: it stores IP addresses.
    "core",
    "organizing",
    "discussions",
    "letters",
    "signatures",
    "petitions",
]

MIDDLEWARE = [
    "core.middleware.ForgetClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.csrf.CsrfViewMiddleware",
    "organizing.mfa.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "core.middleware.RefuseUnreadableInputMiddleware",
    # Last: Redis (or the broker) unreachable -> 503, through every middleware above.
    "core.errors.AppErrorMiddleware",
    "core.unavailable.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "organizing.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
                "django.template.context_processors.i18n",
                "csp.context_processors.nonce",
                "core.context_processors.site",
            ],
        },
    },
]

# --- database ----------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")


def _database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {parsed.scheme!r} is not supported (use postgresql://)"
        )
    name = parsed.path.lstrip("/")
    if not name:
        raise ImproperlyConfigured("DATABASE_URL must name a database")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or env_str("DATABASE_PASSWORD", "") or "",
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        # Persistent connections: measured 1,373 req/s with vs 218 req/s without
        # under gunicorn sync workers (docs/benchmarks.md), one per worker. The ASGI
        # server holds one per process too (ASGI_SERVES_HTTP below).
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            # Names the process in pg_stat_activity, to check the connection
            # budget of each (docs/operations.md).
            "application_name": env_str("DATABASE_APPLICATION_NAME", "organizing"),
            # Values travel apart from the statement text (psycopg's server-side
            # binding; Django still prepares nothing). With client-side binding,
            # pg_stat_activity showed each kept connection's last statement with
            # its values: the last signature a worker accepted, after its batch
            # was sealed (docs/security.md, "Live server state"). Measured
            # neutral on the signing path (docs/benchmarks.md, "Signing").
            "server_side_binding": True,
        },
    }


if DATABASE_URL:
    DATABASES = {"default": _database_from_url(DATABASE_URL)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

# The ASGI server answers plain HTTP in the embedded configuration only. Under
# ASGI every request runs Django in a thread of its own, with a database
# connection of its own: on PostgreSQL a burst of requests held 96 of them and
# the server refused everyone else. In production gunicorn serves HTTP, and the
# websocket server refuses it without touching Django (config/asgi.py); the
# consumers' database calls all run on one thread (channels'
# database_sync_to_async), so each process holds at most one connection.
ASGI_SERVES_HTTP = not DATABASE_URL

# How signatures reach the database (docs/security.md, "Batches"). "scheduled":
# in batches of the campaign's batch_min (default k), at most one per
# batch_interval, sealed by Celery beat; "at-once": a campaign that sets no
# batch_min has each signature sealed as it is accepted (a batch of one), and
# one that does has its due batches sealed by the request that completes
# them. The embedded default, which runs no beat, seals at once.
SIGNATURE_BATCHES = env_str("SIGNATURE_BATCHES", "scheduled" if DATABASE_URL else "at-once")
if SIGNATURE_BATCHES not in ("scheduled", "at-once"):
    raise ImproperlyConfigured("SIGNATURE_BATCHES must be 'scheduled' or 'at-once'")

# --- Redis: cache, channel layer, Celery -------------------------------------

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and urlparse(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")

# Redis is a cache, a channel layer and a broker, never the source of truth:
# when it is unreachable, requests that need it answer 503 at once
# (core.unavailable; docs/operations.md, "When Redis is down"), so a
# connection attempt must give up quickly instead of holding a worker.
REDIS_CONNECT_TIMEOUT_SECONDS = 1
# Every cache command is one small key (counters, figures): a Redis that
# accepted the connection but does not answer is as good as down.
REDIS_COMMAND_TIMEOUT_SECONDS = 2


def redis_caches(url: str) -> dict:
    """CACHES for a Redis at `url`."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "org",
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_COMMAND_TIMEOUT_SECONDS,
            },
        }
    }


def redis_channel_layers(url: str) -> dict:
    """CHANNEL_LAYERS for a Redis at `url`."""
    return {
        "default": {
            # The Pub/Sub layer measured fastest for fan-out (docs/benchmarks.md).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # No socket_timeout: the subscriber connection waits for
                # messages for as long as a channel is quiet.
                "hosts": [
                    {"address": url, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS}
                ],
                "prefix": "org:ws",
            },
        }
    }


if REDIS_URL:
    CACHES = redis_caches(REDIS_URL)
    CHANNEL_LAYERS = redis_channel_layers(REDIS_URL)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery. Without Redis tasks run eagerly in-process.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660, minimum=1)
# Recycle worker processes after big renders: WeasyPrint holds whole documents.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 20, minimum=1)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int(
    "CELERY_WORKER_MAX_MEMORY_PER_CHILD_KB", 1_500_000, minimum=10_000
)
# Redis redelivers unacknowledged tasks after the visibility timeout: it must be
# longer than any task's hard time limit, or a long task runs twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT * 2,
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
}
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT")
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# letters: close open letters whose deadline has passed.
CELERY_BEAT_SCHEDULE["letters-close-expired"] = {
    "task": "letters.tasks.close_expired_letters",
    "schedule": 60.0,
}
# signatures: delete email codes past their validity (HMACs, but with an
# expiry to the second, which need not outlive the code).
CELERY_BEAT_SCHEDULE["signatures-purge-expired-email-codes"] = {
    "task": "signatures.purge_expired_email_codes",
    "schedule": 300.0,
}
# signatures: seal the batches that are due (docs/security.md, "Batches").
CELERY_BEAT_SCHEDULE["signatures-seal-batches"] = {
    "task": "signatures.seal_batches",
    "schedule": 60.0,
}
# discussions: delete messages past their channel's retention (the task keeps
# the name it had before the discussions app existed).
CELERY_BEAT_SCHEDULE["channels-delete-expired"] = {
    "task": "organizing.delete_expired_messages",
    "schedule": 600.0,
}

# --- accounts: django-allauth ------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "organizing.adapters.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# Corporate mail scanners open links before people do; a typed code survives.
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_NOTIFICATIONS = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Organizing] "
ACCOUNT_RATE_LIMITS = {
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reset_password": "20/m/ip,5/m/key",
    "reauthenticate": "10/m/user",
    "reset_password_from_key": "20/m/ip",
    "signup": "20/m/ip",
    "send_email": "5/m/key",
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "Organizing")
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not SERVE_HTTPS
MFA_PASSKEY_LOGIN_ENABLED = False
LOGIN_REDIRECT_URL = "organizing:dashboard"
LOGIN_URL = "account_login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- email ---------------------------------------------------------------

EMAIL_URL = env_str("EMAIL_URL")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "organizing@localhost")
if EMAIL_URL:
    _email = urlparse(EMAIL_URL)
    if _email.scheme not in {"smtp", "smtps", "smtp+tls"}:
        raise ImproperlyConfigured("EMAIL_URL must be smtp://, smtp+tls:// or smtps://")
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or (465 if _email.scheme == "smtps" else 587)
    EMAIL_HOST_USER = _email.username or ""
    EMAIL_HOST_PASSWORD = _email.password or env_str("EMAIL_PASSWORD", "") or ""
    EMAIL_USE_SSL = _email.scheme == "smtps"
    EMAIL_USE_TLS = _email.scheme == "smtp+tls"
elif env_str("EMAIL_FILE_PATH"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- i18n, static ------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served by WhiteNoise from our own origin under gunicorn and the ASGI server
# alike; finders make `collectstatic` optional for the embedded mode.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "media"

# --- security headers --------------------------------------------------------

X_FRAME_OPTIONS = "DENY"
# No Referer at all, so invite links and unlisted letters' addresses never leak.
# Browsers then post our own forms with "Origin: null" and no Referer;
# core.csrf accepts Fetch Metadata (Sec-Fetch-Site: same-origin) in
# their place, the CSRF token still required.
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SERVE_HTTPS
CSRF_COOKIE_SECURE = SERVE_HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SERVE_HTTPS)
# HSTS is only sent on HTTPS responses (Django's SecurityMiddleware).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SERVE_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SERVE_HTTPS
# Preloading is hard to undo, so operators opt in; the check is silenced
# because not preloading is a deliberate default, not an oversight.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# W003 only recognises Django's own CSRF middleware; core.csrf replaces
# it with a subclass and registers its own check (organizing.E001).
SILENCED_SYSTEM_CHECKS = ["security.W021", "security.W003"]
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=(), browsing-topics=()"
)

# Strict CSP: everything from our own origin, no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # allauth's TOTP QR code is a data: SVG image.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- privacy: no IP addresses anywhere -----------------------------------------

# Keyed hashes of client addresses replace the addresses themselves (see
# core.middleware); the key is derived from SECRET_KEY.
CLIENT_KEY_SALT = "organizing.client-key"
# Behind a reverse proxy every request comes from the proxy's address, so the
# per-client rate limits would lump all clients together. Name the header the
# proxy puts the client's address in (e.g. X-Real-IP); it is hashed like
# REMOTE_ADDR and then removed. Only set this when the proxy overwrites it.
CLIENT_ADDRESS_HEADER = env_str("CLIENT_ADDRESS_HEADER", "") or ""

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub_ip": {"()": "core.logging.ScrubIPAddressesFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["scrub_ip"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Request lines of the development server carry no IP, but silence
        # them anyway: the production servers run without access logs.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING", "propagate": False},
        # uvicorn logs every websocket handshake as "client-ip:port - WebSocket
        # /ws/... [accepted]" on uvicorn.error, even with --no-access-log.
        "uvicorn.error": {"level": "WARNING"},
        # uvicorn.error's records reach the handler uvicorn puts on "uvicorn",
        # which has no filter: use ours instead (this configuration is applied
        # when uvicorn loads the application, before it serves anyone).
        "uvicorn": {"handlers": ["console"], "propagate": False},
    },
}

# --- the product --------------------------------------------------------------

ORGANIZING = {
    # Default k-anonymity threshold for new campaigns.
    "DEFAULT_K": env_int("DEFAULT_K_ANONYMITY", 5, minimum=2),
    "DEFAULT_QUORUM": env_int("DEFAULT_APPROVAL_QUORUM", 2, minimum=1),
}

# --- benchmarks (bench/signing.py; never set in a deployment) -----------------------

# Adds the baseline route /bench/insert (bench/baseline.py) and raises the
# per-address signing rate limits, which the benchmark's single client address
# would otherwise hit at once. Raised rather than disabled, so the benchmark
# still pays for the rate-limit counter like production does.
BENCHMARK_ROUTES = env_bool("BENCHMARK_ROUTES", False)
if BENCHMARK_ROUTES:
    SIGNATURES_RATE_LIMITS = {
        scope: (10**9, 60)
        for scope in ("email_code", "token", "invite_code", "signature", "receipt")
    }
