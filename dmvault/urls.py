from django.contrib import admin
from django.urls import include, path

# Unaudited on purpose: only the probes /health/live and /health/ready and the token-guarded
# /metrics (dmvault/ops/), documented in docs/OPERATIONS.md.
# Everything else is audited: the API and the UI by their views, /admin/ and /oidc/ by
# dmvault.ops.admin_audit.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("dmvault.api.urls")),  # /api/v1/…, /api/schema/, /api/docs/
    path("", include("dmvault.ops.urls")),  # /health/live, /health/ready, /metrics, /oidc/… (dmvault/ops/)
    path("", include("dmvault.ui.urls")),  # the review UI (dmvault/ui/)
]
