"""The review UI, mounted at ``/`` (``dmvault/urls.py``)."""

from django.urls import path

from dmvault.ui import views

app_name = "ui"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("purpose/", views.PurposeView.as_view(), name="purpose"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("timeline/<str:kind>/", views.TimelineView.as_view(), name="timeline"),
    path("conversations/<int:pk>/", views.ConversationView.as_view(), name="conversation"),
    path("conversations/<int:pk>/messages/<int:mid>/reveal/", views.RevealView.as_view(), name="reveal"),
    path("attachments/<int:pk>/", views.AttachmentView.as_view(), name="attachment"),
    path("imports/", views.ImportsView.as_view(), name="imports"),
    path("imports/<int:pk>/", views.ImportView.as_view(), name="import"),
    path("imports/<int:pk>/status.json", views.ImportStatusView.as_view(), name="import_status"),
    path("matters/", views.MattersView.as_view(), name="matters"),
    path("matters/<int:pk>/", views.MatterView.as_view(), name="matter"),
    path("holds/<int:pk>/release/", views.ReleaseHoldView.as_view(), name="release_hold"),
    path("retention/", views.RetentionView.as_view(), name="retention"),
    path("retention/dry-run/", views.DryRunView.as_view(), name="dry_run"),
    path("retention/run/", views.RetentionRunView.as_view(), name="retention_run"),
    path("subjects/", views.SubjectsView.as_view(), name="subjects"),
    path("subjects/<int:pk>/", views.SubjectView.as_view(), name="subject"),
    path("subjects/<int:pk>/access.zip", views.SubjectAccessView.as_view(), name="subject_access"),
    path("erasure/<int:pk>/<str:step>/", views.ErasureView.as_view(), name="erasure"),
    path("exports/", views.ExportsView.as_view(), name="exports"),
    path("exports/<int:pk>/", views.ExportView.as_view(), name="export"),
    path("exports/<int:pk>/status.json", views.ExportStatusView.as_view(), name="export_status"),
    path("exports/<int:pk>/download/", views.ExportDownloadView.as_view(), name="export_download"),
    path("exports/<int:pk>/passphrase/", views.ExportPassphraseView.as_view(), name="export_passphrase"),
    path("audit/", views.AuditLogView.as_view(), name="audit"),
    path("users/", views.UsersView.as_view(), name="users"),
]
