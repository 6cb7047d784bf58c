"""/api/v1/ routes, the schema and docs, and a catch-all audited 404 for everything else."""

from django.urls import path, re_path

from dmvault.api.views import archive, audit_log, docs, system, users

v1 = [
    path("health", system.HealthView.as_view(), name="health"),
    path("auth/token", system.TokenView.as_view(), name="auth-token"),
    path("purpose", system.PurposeView.as_view(), name="purpose"),
    path("sources", archive.SourceListView.as_view(), name="sources"),
    path("sources/<int:pk>", archive.SourceDetailView.as_view(), name="source"),
    path("conversations", archive.ConversationListView.as_view(), name="conversations"),
    path(
        "conversations/<int:pk>/messages",
        archive.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path("messages/<int:pk>", archive.MessageDetailView.as_view(), name="message"),
    path("search", archive.SearchView.as_view(), name="search"),
    path("audit", audit_log.AuditListView.as_view(), name="audit"),
    path("audit/verify", audit_log.AuditVerifyView.as_view(), name="audit-verify"),
    path("users", users.UserListView.as_view(), name="users"),
    path("users/<int:pk>/tokens", users.UserTokenView.as_view(), name="user-tokens"),
]

app_name = "api"
urlpatterns = [
    *[path("v1/" + str(p.pattern), p.callback, name=p.name) for p in v1],
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("docs/redoc/", docs.RedocView.as_view(url_name="api:schema"), name="redoc"),
    re_path(r"^.*$", docs.NotFoundView.as_view(), name="not-found"),
]
