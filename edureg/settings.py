"""Settings, read from the environment (see README, "Cấu hình").

Safe local defaults: SQLite in ``var/``, DEBUG off unless asked for, loopback only.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("EDUREG_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("EDUREG_DEBUG", default=False)
SECRET_KEY = env.str("EDUREG_SECRET_KEY", default="")
if not SECRET_KEY:
    # Local runs get a per-checkout key kept in var/, never a key committed to the repository.
    _key_file = VAR_DIR / "secret_key"
    if _key_file.exists():
        SECRET_KEY = _key_file.read_text().strip()
    else:
        from django.core.management.utils import get_random_secret_key

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = get_random_secret_key()
        _key_file.write_text(SECRET_KEY)
        _key_file.chmod(0o600)

ALLOWED_HOSTS = env.list("EDUREG_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("EDUREG_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Agencies' OAuth2 client credentials (edureg.sharing); only the token endpoint is mounted.
    "oauth2_provider",
    # Listed so the API documentation page takes Swagger UI from our own static files, not
    # from a third-party CDN (issue 7: no external hosts in rendered pages).
    "ninja",
    "edureg.core",
    "edureg.schools",
    "edureg.access",
    "edureg.audit",
    "edureg.quality",
    "edureg.dedupe",
    "edureg.registry",
    "edureg.privacy",
    "edureg.identity",
    "edureg.sync",
    "edureg.sharing",
    "edureg.intake",
    "edureg.yearly",
    "edureg.reports",
    "edureg.web",
    "edureg.api",
    "edureg.cli",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "edureg.web.middleware.AccessDeniedAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "edureg.web.accounts.middleware.IdleTimeoutMiddleware",
    "edureg.web.accounts.middleware.AccountGateMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "edureg.urls"
WSGI_APPLICATION = "edureg.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "edureg.web.context.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'edureg.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run while one writer commits; IMMEDIATE takes the write lock at BEGIN
        # so two writers queue instead of failing half-way with "database is locked".
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=10000; PRAGMA cache_size=-65536;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file, not Django's default in-memory database: the quality rescan reads
    # through connectorx, a connection of its own, which cannot see a private in-memory one.
    # One file per test run (process), so that two runs on one machine never share it.
    _db_file = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {
        "NAME": str(_db_file.with_name(f"test_{os.getpid()}_{_db_file.name}"))}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("EDUREG_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "access.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "edureg.access.passwords.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("username", "full_name", "email")},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lockout: this many failures within the window lock the account name, or the client
# address, until the oldest counted failure leaves the window.
EDUREG_LOCKOUT_ACCOUNT_FAILURES = env.int("EDUREG_LOCKOUT_ACCOUNT_FAILURES", default=5)
EDUREG_LOCKOUT_ADDRESS_FAILURES = env.int("EDUREG_LOCKOUT_ADDRESS_FAILURES", default=20)
EDUREG_LOCKOUT_WINDOW_SECONDS = env.int("EDUREG_LOCKOUT_WINDOW", default=15 * 60)
# Trusted reverse proxies in front of the app (X-Forwarded-For entries to skip); 0 = none.
EDUREG_PROXY_COUNT = env.int("EDUREG_PROXY_COUNT", default=0)
# Signed-in sessions end after this many seconds without a request.
EDUREG_IDLE_TIMEOUT_SECONDS = env.int("EDUREG_IDLE_TIMEOUT", default=30 * 60)
OTP_TOTP_ISSUER = env.str("EDUREG_OTP_ISSUER", default="edureg")
CSRF_FAILURE_VIEW = "edureg.web.accounts.views.csrf_failure"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", "Tiếng Việt"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "edureg" / "locale"]
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_ENGINE = "edureg.access.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("EDUREG_SESSION_AGE", default=8 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
_secure = env.bool("EDUREG_SECURE", default=False)
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SECURE_SSL_REDIRECT = _secure
SECURE_HSTS_SECONDS = 31536000 if _secure else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _secure
SECURE_HSTS_PRELOAD = _secure
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _secure else None
if _secure:
    # deploy/edureg.env.example marks what must be filled in with CHANGE-ME: a production
    # started with one left (a published secret key, a sample password) stops here.
    _unfilled = sorted(name for name, value in os.environ.items()
                       if (name.startswith("EDUREG_") or name == "DATABASE_URL")
                       and "CHANGE-ME" in value)
    if _unfilled:
        raise ImproperlyConfigured("Fill in the CHANGE-ME placeholders of the environment file: "
                                   + ", ".join(_unfilled))

# Backups (scripts/backup.sh, scripts/restore.sh; docs/production.md): where backup directories
# go, and how many of the newest a backup run keeps there (0: all). They hold personal data: in
# production put them on their own disk and copy them off the machine.
EDUREG_BACKUP_DIR = Path(env.str("EDUREG_BACKUP_DIR", default=str(VAR_DIR / "backups")))
EDUREG_BACKUP_KEEP = env.int("EDUREG_BACKUP_KEEP", default=0)

TASKS = {
    "default": {
        "BACKEND": env.str(
            "EDUREG_TASK_BACKEND", default="django_tasks_db.DatabaseBackend"
        ),
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Tracebacks name the exceptions and their frames but withhold the messages, which can
    # carry the values a query failed on (edureg.core.logs).
    "formatters": {"plain": {"()": "edureg.core.logs.WithheldTracebackFormatter",
                             "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("EDUREG_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Request logs would carry URLs with record ids and query strings; keep them at WARNING.
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

# The parents' look-up portal (edureg.privacy.portal): how long a one-time code and a portal
# session last, how many tries a look-up gets, and the rate limits per identity typed and per
# client address within the window. Names of staff in the access history: off by default
# (the history shows job positions).
EDUREG_PORTAL_CODE_MINUTES = env.int("EDUREG_PORTAL_CODE_MINUTES", default=10)
EDUREG_PORTAL_TRIES_PER_LOOKUP = env.int("EDUREG_PORTAL_TRIES_PER_LOOKUP", default=3)
EDUREG_PORTAL_LOOKUPS_PER_IDENTITY = env.int("EDUREG_PORTAL_LOOKUPS_PER_IDENTITY", default=3)
EDUREG_PORTAL_LOOKUPS_PER_ADDRESS = env.int("EDUREG_PORTAL_LOOKUPS_PER_ADDRESS", default=20)
EDUREG_PORTAL_FAILURES_PER_IDENTITY = env.int("EDUREG_PORTAL_FAILURES_PER_IDENTITY", default=5)
EDUREG_PORTAL_FAILURES_PER_ADDRESS = env.int("EDUREG_PORTAL_FAILURES_PER_ADDRESS", default=20)
EDUREG_PORTAL_WINDOW_SECONDS = env.int("EDUREG_PORTAL_WINDOW_SECONDS", default=60 * 60)
EDUREG_PORTAL_SESSION_MINUTES = env.int("EDUREG_PORTAL_SESSION_MINUTES", default=15)
EDUREG_PORTAL_SHOW_NAMES = env.bool("EDUREG_PORTAL_SHOW_NAMES", default=False)
# How often `edureg schedule` looks for overdue data-subject requests and breaches to tell the
# principal about by text message (edureg.privacy.alerts).
EDUREG_PRIVACY_ALERT_SECONDS = env.int("EDUREG_PRIVACY_ALERT_SECONDS", default=15 * 60)

# Audit chain anchors (edureg.audit.anchors): the chain head copied, every hour and at each
# `edureg audit anchor`, to a file outside the database, so that deleting the newest events and
# rewinding the head is still detected. In production point it at storage the database owner
# cannot rewrite (another host's mount, a write-once store). Empty: no anchors.
EDUREG_AUDIT_ANCHOR_FILE = env.str(
    "EDUREG_AUDIT_ANCHOR_FILE", default=str(VAR_DIR / "audit-anchors.jsonl"))
EDUREG_AUDIT_ANCHOR_SECONDS = env.int("EDUREG_AUDIT_ANCHOR_SECONDS", default=60 * 60)

# Outside systems: adapters are chosen by dotted path, like EMAIL_BACKEND.
EDUREG_REGISTER_SIM_DB = Path(
    env.str("EDUREG_REGISTER_SIM_DB", default=str(VAR_DIR / "population_register.sqlite3"))
)

# The national population register (issue 5): which adapter runs (a dotted path to a class
# implementing ``edureg.identity.register.port.PopulationRegister``), where it answers, and how
# hard to push it. The defaults point at ``edureg sim register`` on loopback.
EDUREG_POPULATION_REGISTER = env.str(
    "EDUREG_POPULATION_REGISTER",
    default="edureg.identity.register.http_adapter.HttpPopulationRegister")
EDUREG_REGISTER_URL = env.str("EDUREG_REGISTER_URL", default="http://127.0.0.1:8101")
EDUREG_REGISTER_TOKEN = env.str("EDUREG_REGISTER_TOKEN", default="sim-register-token")
EDUREG_REGISTER_CLIENT_CERT = env.str("EDUREG_REGISTER_CLIENT_CERT", default="")  # PEM path
EDUREG_REGISTER_CLIENT_KEY = env.str("EDUREG_REGISTER_CLIENT_KEY", default="")
EDUREG_REGISTER_TIMEOUT_SECONDS = env.float("EDUREG_REGISTER_TIMEOUT", default=10.0)
EDUREG_REGISTER_MAX_CONCURRENCY = env.int("EDUREG_REGISTER_MAX_CONCURRENCY", default=4)
EDUREG_REGISTER_RATE_PER_SECOND = env.float("EDUREG_REGISTER_RATE", default=20.0)
EDUREG_REGISTER_SIM_PORT = env.int("EDUREG_REGISTER_SIM_PORT", default=8101)
# Verification jobs: persons per call (at most the exchange's 100), and how long a worker's
# hold on the persons of a call in flight lasts without renewal (a killed worker's persons
# are taken up again after it).
EDUREG_IDENTITY_BATCH_SIZE = env.int("EDUREG_IDENTITY_BATCH_SIZE", default=100)
EDUREG_IDENTITY_LEASE_SECONDS = env.float("EDUREG_IDENTITY_LEASE_SECONDS", default=60.0)

# Outbound text messages (SMS: guardians' one-time codes, alerts): which adapter runs (a dotted
# path to a class implementing ``edureg.core.messages.port.MessageSender``, built with no
# arguments), where it sends, and the most seconds one send may take, retries included (a web
# request waits on it). The defaults point at ``edureg sim messages`` on loopback.
EDUREG_MESSAGE_SENDER = env.str(
    "EDUREG_MESSAGE_SENDER", default="edureg.core.messages.http_adapter.HttpMessageSender")
EDUREG_MESSAGES_URL = env.str("EDUREG_MESSAGES_URL", default="http://127.0.0.1:8102")
EDUREG_MESSAGES_TOKEN = env.str("EDUREG_MESSAGES_TOKEN", default="sim-messages-token")
EDUREG_MESSAGES_TIMEOUT = env.float("EDUREG_MESSAGES_TIMEOUT", default=5.0)
if not 0 < EDUREG_MESSAGES_TIMEOUT <= 60:
    raise ImproperlyConfigured("EDUREG_MESSAGES_TIMEOUT must be more than 0 and at most 60 s")
EDUREG_MESSAGES_SIM_PORT = env.int("EDUREG_MESSAGES_SIM_PORT", default=8102)

# The national sector database (issue 8): which adapter runs (a dotted path to a class
# implementing ``edureg.sync.upstream.port.UpstreamSectorDB``, built with no arguments), where
# it answers, and the most seconds one push may take, retries included. The defaults point at
# ``edureg sim upstream`` on loopback, which keeps what it applied in EDUREG_UPSTREAM_SIM_DB.
EDUREG_UPSTREAM = env.str(
    "EDUREG_UPSTREAM", default="edureg.sync.upstream.http_adapter.HttpUpstreamSectorDB")
EDUREG_UPSTREAM_URL = env.str("EDUREG_UPSTREAM_URL", default="http://127.0.0.1:8103")
EDUREG_UPSTREAM_TOKEN = env.str("EDUREG_UPSTREAM_TOKEN", default="sim-upstream-token")
EDUREG_UPSTREAM_TIMEOUT = env.float("EDUREG_UPSTREAM_TIMEOUT", default=10.0)
if not 0 < EDUREG_UPSTREAM_TIMEOUT <= 300:
    raise ImproperlyConfigured("EDUREG_UPSTREAM_TIMEOUT must be more than 0 and at most 300 s")
EDUREG_UPSTREAM_SIM_PORT = env.int("EDUREG_UPSTREAM_SIM_PORT", default=8103)
EDUREG_UPSTREAM_SIM_DB = Path(
    env.str("EDUREG_UPSTREAM_SIM_DB", default=str(VAR_DIR / "upstream_sim.sqlite3")))

# Agencies' OAuth2 client credentials (django-oauth-toolkit, edureg.sharing): each client is
# bound to a sharing agreement; tokens live 10 minutes, carry the one "sharing" scope, are kept
# only as a SHA-256 checksum (RFC 9700 token storage) and are accepted in the Authorization
# header only; client secrets are stored hashed.
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("EDUREG_SHARING_TOKEN_SECONDS", default=10 * 60),
    "SCOPES": {"sharing": "Tra cứu dữ liệu theo thoả thuận chia sẻ"},
    "DEFAULT_SCOPES": ["sharing"],
    "OAUTH2_VALIDATOR_CLASS": "edureg.sharing.oauth.AgreementValidator",
    # Every RFC 9700 switch on (the flows edureg does not use stay refused, and the deploy
    # check passes): tokens kept only as a checksum, tokens in the header only.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# Named so that migrations referring to the client model resolve it (the toolkit's default).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"

# Small-cell suppression: aggregate counts of persons shown outside their school (authority
# dashboards) below this number show as "<N" (issue 7).
EDUREG_SMALL_CELL_THRESHOLD = env.int("EDUREG_SMALL_CELL_THRESHOLD", default=5)
if EDUREG_SMALL_CELL_THRESHOLD < 1:
    raise ImproperlyConfigured("EDUREG_SMALL_CELL_THRESHOLD must be at least 1")

# Intake of export workbooks (issue 9): an uploaded file waits for its commit as a private
# temporary file (0600, in this 0700 directory) and is removed at commit, cancel or after
# EDUREG_INTAKE_TTL_SECONDS (``edureg schedule`` sweeps); the largest file and row count taken.
EDUREG_INTAKE_DIR = Path(env.str("EDUREG_INTAKE_DIR", default=str(VAR_DIR / "intake")))
EDUREG_INTAKE_TTL_SECONDS = env.int("EDUREG_INTAKE_TTL_SECONDS", default=60 * 60)
EDUREG_INTAKE_MAX_BYTES = env.int("EDUREG_INTAKE_MAX_BYTES", default=20 * 1024 * 1024)
EDUREG_INTAKE_MAX_ROWS = env.int("EDUREG_INTAKE_MAX_ROWS", default=60_000)
if EDUREG_INTAKE_TTL_SECONDS < 60 or EDUREG_INTAKE_MAX_BYTES < 1 or EDUREG_INTAKE_MAX_ROWS < 1:
    raise ImproperlyConfigured("EDUREG_INTAKE_TTL_SECONDS must be at least 60, the size and "
                               "row limits at least 1")
