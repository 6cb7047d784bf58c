import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dmvault.settings")

application = get_wsgi_application()

# gunicorn does not run system checks; production must refuse to serve with a bad configuration
# (above all, without a key provider), so run the serious ones here.
from django.conf import settings  # noqa: E402
from django.core import checks  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402

if settings.PRODUCTION:
    errors = [m for m in checks.run_checks() if m.is_serious()]
    if errors:
        raise ImproperlyConfigured("; ".join(f"{m.id}: {m.msg} ({m.hint})" for m in errors))
