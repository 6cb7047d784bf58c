from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/", include("dmvault.api.urls")),  # /api/v1/…, /api/schema/, /api/docs/
    path("", include("dmvault.ops.urls")),  # /health/live, /health/ready, /metrics, /oidc/… (dmvault/ops/)
    path("", include("dmvault.ui.urls")),  # the review UI (dmvault/ui/)
]
