"""Django settings, read from the environment.

Defaults make a first run work with nothing configured (SQLite and a generated secret
under var/, an SQLite-backed Celery broker, a file cache). Production sets DEBUG=0 and
real values; with DEBUG off, an insecure configuration refuses to start.
"""

import hashlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use 1/0, true/false, yes/no.")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# Models come from this repo or from installed packages, never from a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is off. Set SECRET_KEY to a random string of at "
            "least 50 characters (python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for a local run."
        )
    # Local runs keep one generated key so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

if not DEBUG:
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure") or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "SECRET_KEY is too weak for DEBUG=0: use at least 50 random characters."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is empty and DEBUG is off: set it to the host names this site "
            "answers to, comma-separated (e.g. ALLOWED_HOSTS=shop.example.com)."
        )
    if "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS='*' is not allowed with DEBUG off.")

INSTALLED_APPS = [
    "frontend",  # first: its admin/base_site.html puts the console's navigation on admin pages
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "assistant.shop",
    "assistant.conversations",
    "assistant.chat",
    "assistant.ide",
    "assistant.health",
    "assistant.finetune",
    "safety",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "assistant.api.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "assistant.urls"
WSGI_APPLICATION = "assistant.wsgi.application"
ASGI_APPLICATION = "assistant.asgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the Celery worker and test subprocesses share one file: wait for locks
    # instead of failing, and give tests a file (not memory) that a worker process can open.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL: readers never block the writer, so one slow reader cannot stall every request.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # Shared by every local process (web, worker), unlike the in-memory cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

MODEL_SERVER_URL = os.environ.get("MODEL_SERVER_URL", "http://127.0.0.1:8001/v1")
MODEL_SERVER_API_KEY = os.environ.get("MODEL_SERVER_API_KEY", "")
MODEL_NAME = os.environ.get("MODEL_NAME", "demo")
MODEL_SERVER_TIMEOUT = float(os.environ.get("MODEL_SERVER_TIMEOUT", "60"))
MODEL_SERVER_CONNECT_TIMEOUT = float(os.environ.get("MODEL_SERVER_CONNECT_TIMEOUT", "3"))
MODEL_RETRIES = int(os.environ.get("MODEL_RETRIES", "2"))
# After this many failed calls in a row the breaker opens for the cooldown (seconds).
MODEL_BREAKER_THRESHOLD = int(os.environ.get("MODEL_BREAKER_THRESHOLD", "3"))
MODEL_BREAKER_COOLDOWN = float(os.environ.get("MODEL_BREAKER_COOLDOWN", "30"))
AGENT_MAX_STEPS = int(os.environ.get("AGENT_MAX_STEPS", "5"))
AGENT_MAX_TOKENS = int(os.environ.get("AGENT_MAX_TOKENS", "512"))
SHOP_NAME = os.environ.get("SHOP_NAME", "Northwind Goods")

# Celery: Redis in production; with no REDIS_URL, kombu's SQLAlchemy transport on an SQLite
# file keeps queued jobs across restarts without any server. Results go to the database.
CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL", REDIS_URL or f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task after this long (a worker that died mid-task). Long
# tasks stop themselves well inside it (a soft time limit) and continue in a new delivery.
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 6 * 3600))
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_TIMEZONE = "UTC"
# Fine-tuning runs for hours: its own queue, so it never holds up the short tasks.
CELERY_TASK_ROUTES = {"finetune.*": {"queue": "finetune"}}

# Fine-tuning (DP-SGD LoRA adapters on the served model; see assistant/finetune/).
FINETUNE_BASE_MODEL = Path(
    os.environ.get("FINETUNE_BASE_MODEL", BASE_DIR / "modelserver" / "demo" / "checkpoint")
)
# Adapters and training state; the model server must read the adapters at the same path.
FINETUNE_DIR = Path(os.environ.get("FINETUNE_DIR", VAR_DIR / "finetune"))
FINETUNE_NOTICE_VERSION = os.environ.get("FINETUNE_NOTICE_VERSION", "2026-12")
FINETUNE_LEASE_SECONDS = float(os.environ.get("FINETUNE_LEASE_SECONDS", "120"))
FINETUNE_CHECKPOINT_EVERY = int(os.environ.get("FINETUNE_CHECKPOINT_EVERY", "10"))
FINETUNE_EVAL_UNITS = int(os.environ.get("FINETUNE_EVAL_UNITS", "20"))
# Torch threads for training in the worker (0: torch's default, one per core). Fewer when the
# worker shares its cores with the web and model server processes.
FINETUNE_TORCH_THREADS = int(os.environ.get("FINETUNE_TORCH_THREADS", "0"))
FINETUNE_SOFT_TIME_LIMIT = int(
    os.environ.get("FINETUNE_SOFT_TIME_LIMIT", max(CELERY_VISIBILITY_TIMEOUT - 1800, 60))
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = DEBUG  # serve app static files without collectstatic on local runs
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "assistant.api.api_exception_handler",
    # Counted in the default cache: Redis in production, shared by every web process.
    "DEFAULT_THROTTLE_RATES": {
        "chat": os.environ.get("CHAT_RATE_LIMIT", "30/min"),
        "ide": os.environ.get("IDE_RATE_LIMIT", "120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shop assistant API",
    "DESCRIPTION": "The chat widget's API (/api/chat/) and the Tabby-compatible IDE API (/ide/v1/).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The chat widget runs on the shop's pages (another origin): it authenticates with a bearer
# session token, not cookies, so CORS is open only to the shop's origins and CSRF is not in play.
CORS_ALLOWED_ORIGINS = env_list("WIDGET_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/chat/.*$"
WIDGET_IDENTITY_SECRET = os.environ.get("WIDGET_IDENTITY_SECRET", "") or (
    # Local runs sign the demo page's customer with a key derived from the secret key.
    hashlib.sha256(f"widget-identity:{SECRET_KEY}".encode()).hexdigest() if DEBUG else ""
)
# The demo shop page (/demo/) signs visitors in as any demo customer: local runs only.
DEMO_PAGE = env_bool("DEMO_PAGE", DEBUG)
WIDGET_IDENTITY_MAX_AGE = int(os.environ.get("WIDGET_IDENTITY_MAX_AGE", 24 * 3600))
WIDGET_SESSION_MAX_AGE = int(os.environ.get("WIDGET_SESSION_MAX_AGE", 30 * 24 * 3600))

IDE_MAX_PREFIX_CHARS = 6000
IDE_MAX_SUFFIX_CHARS = 2000
IDE_MAX_TOKENS = int(os.environ.get("IDE_MAX_TOKENS", "64"))

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
