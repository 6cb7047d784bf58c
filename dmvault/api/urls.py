"""/api/v1/ routes, the schema and docs, and a catch-all audited 404 for everything else."""

from django.urls import path, re_path

from dmvault.api.views import (
    archive,
    audit_log,
    compliance,
    docs,
    exports,
    imports,
    keys,
    people,
    redaction,
    saved,
    system,
    users,
)

v1 = [
    path("health", system.HealthView.as_view(), name="health"),
    path("auth/token", system.TokenView.as_view(), name="auth-token"),
    path("purpose", system.PurposeView.as_view(), name="purpose"),
    # GET lists (archive.SourceListView's behaviour); POST uploads (imports).
    path("sources", imports.SourcesView.as_view(), name="sources"),
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
    path("users/<int:pk>/assignments", users.UserAssignmentsView.as_view(), name="user-assignments"),
    # Import jobs, people, saved searches, labels, keys (issue 7).
    path("sources/<int:pk>/progress", imports.ImportProgressView.as_view(), name="source-progress"),
    path("participants", people.ParticipantListView.as_view(), name="participants"),
    path("subjects", people.SubjectListView.as_view(), name="subjects"),
    path("subjects/<int:pk>/link", people.SubjectLinkView.as_view(), name="subject-link"),
    path("subjects/<int:pk>/unlink", people.SubjectUnlinkView.as_view(), name="subject-unlink"),
    path("saved-searches", saved.SavedSearchListView.as_view(), name="saved-searches"),
    path("saved-searches/<int:pk>", saved.SavedSearchDetailView.as_view(), name="saved-search"),
    path("saved-searches/<int:pk>/run", saved.SavedSearchRunView.as_view(), name="saved-search-run"),
    path("labels", saved.LabelListView.as_view(), name="labels"),
    path("keys", keys.KeyStatusView.as_view(), name="keys"),
    path("keys/rotate-root", keys.KeyRotateRootView.as_view(), name="keys-rotate-root"),
    path("keys/roll", keys.KeyRollView.as_view(), name="keys-roll"),
    # Redaction rules, policies and reveal (issue 4).
    path("redaction/rules", redaction.RuleListView.as_view(), name="redaction-rules"),
    path("redaction/rules/<int:pk>", redaction.RuleDetailView.as_view(), name="redaction-rule"),
    path("redaction/policies", redaction.PolicyListView.as_view(), name="redaction-policies"),
    path("redaction/policies/<int:pk>", redaction.PolicyDetailView.as_view(), name="redaction-policy"),
    path("messages/<int:pk>/reveal", redaction.MessageRevealView.as_view(), name="message-reveal"),
    # Compliance: retention, matters and holds, consent, subject access and erasure, exports (issue 7.5).
    path("retention/policies", compliance.RetentionPolicyListView.as_view(), name="retention-policies"),
    path(
        "retention/policies/<int:pk>", compliance.RetentionPolicyDetailView.as_view(), name="retention-policy"
    ),
    path("retention/dry-run", compliance.RetentionDryRunView.as_view(), name="retention-dry-run"),
    path("retention/run", compliance.RetentionRunView.as_view(), name="retention-run"),
    path("retention/jobs", compliance.RetentionJobListView.as_view(), name="retention-jobs"),
    path("retention/jobs/<int:pk>", compliance.RetentionJobDetailView.as_view(), name="retention-job"),
    path("matters", compliance.MatterListView.as_view(), name="matters"),
    path("matters/<int:pk>", compliance.MatterDetailView.as_view(), name="matter"),
    path("matters/<int:pk>/holds", compliance.MatterHoldView.as_view(), name="matter-holds"),
    path("holds/<int:pk>/release", compliance.HoldReleaseView.as_view(), name="hold-release"),
    path("subjects/<int:pk>/consent", compliance.SubjectConsentView.as_view(), name="subject-consent"),
    path("subjects/<int:pk>/access", compliance.SubjectAccessView.as_view(), name="subject-access"),
    path("subjects/<int:pk>/erasure", compliance.SubjectErasureView.as_view(), name="subject-erasure"),
    path(
        "erasure-requests/<int:pk>/approve", compliance.ErasureApproveView.as_view(), name="erasure-approve"
    ),
    path(
        "erasure-requests/<int:pk>/execute", compliance.ErasureExecuteView.as_view(), name="erasure-execute"
    ),
    path("exports", exports.ExportListView.as_view(), name="exports"),
    path("exports/<int:pk>", exports.ExportDetailView.as_view(), name="export"),
    path("exports/<int:pk>/cancel", exports.ExportCancelView.as_view(), name="export-cancel"),
    path("exports/<int:pk>/download", exports.ExportDownloadView.as_view(), name="export-download"),
    path("exports/<int:pk>/passphrase", exports.ExportPassphraseView.as_view(), name="export-passphrase"),
]

app_name = "api"
urlpatterns = [
    *[path("v1/" + str(p.pattern), p.callback, name=p.name) for p in v1],
    path("schema/", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("docs/redoc/", docs.RedocView.as_view(url_name="api:schema"), name="redoc"),
    re_path(r"^.*$", docs.NotFoundView.as_view(), name="not-found"),
]
