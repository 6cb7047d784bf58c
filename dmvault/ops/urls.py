"""Mounted at the site root (``dmvault/urls.py``), before the UI."""

from django.urls import path

from dmvault.ops import health, sso

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    # mozilla-django-oidc reverses these names (unnamespaced).
    path("oidc/authenticate/", sso.authenticate_view, name="oidc_authentication_init"),
    path("oidc/callback/", sso.callback_view, name="oidc_authentication_callback"),
    path("oidc/logout/", sso.logout_view, name="oidc_logout"),
    path("oidc/api-token", sso.api_token_view, name="oidc-api-token"),
]
