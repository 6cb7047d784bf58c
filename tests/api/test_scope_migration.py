"""The upgrade that introduced review scopes locks nobody out: every user that existed before it
gets the whole-archive grant; users created afterwards start with nothing."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from accounts.models import User
from accounts.scope import scope_for

pytestmark = pytest.mark.django_db


def test_the_data_migration_grants_existing_users_the_whole_archive() -> None:
    officer = User.objects.create_user(username="veteran", password="x" * 20, role="compliance_officer")
    assert scope_for(officer).is_nothing
    migration = importlib.import_module("accounts.migrations.0002_review_scope")
    migration.grant_existing_users(apps, None)
    officer = User.objects.get(pk=officer.pk)  # the next request's user
    assert officer.whole_archive and scope_for(officer).is_everything
