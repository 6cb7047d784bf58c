"""GET /api/v1/search runs the query language through the one search service: operators,
highlights, cursors bound to the query, and only sources whose import has finished."""

from __future__ import annotations

import pytest

from archive.models import Source
from tests.api.conftest import assert_error_shape, declare_purpose

pytestmark = pytest.mark.django_db


def _texts(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [m["text"] for m in response.json()["results"]]


def test_the_api_search_speaks_the_query_language(personas, archive) -> None:
    officer = personas["officer"]
    declare_purpose(officer)
    get = officer.client.get
    assert _texts(get("/api/v1/search", {"q": '"lighthouse keeper"'})) == [
        "Third message about the lighthouse keeper"
    ]
    assert _texts(get("/api/v1/search", {"q": "lighthouse -keeper"})) == [
        "Fifth and final lighthouse note",
        "Zanzibarquokka meets at the lighthouse",
    ]
    assert _texts(get("/api/v1/search", {"q": "lighthouse from:bquince"})) == []
    assert len(_texts(get("/api/v1/search", {"q": "lighthouse from:alicia.vb"}))) == 3
    (hit,) = get("/api/v1/search", {"q": "zanzibarquokka"}).json()["results"]
    assert [hit["text"][s:e] for s, e in hit["highlights"]] == ["Zanzibarquokka"]
    error = assert_error_shape(get("/api/v1/search", {"q": '"unclosed phrase'}), 400)
    assert error["field"] == "q"


def test_a_cursor_pages_through_once_and_belongs_to_its_query(personas, archive) -> None:
    officer = personas["officer"]
    declare_purpose(officer)
    first = officer.client.get("/api/v1/search", {"q": "lighthouse", "limit": 2}).json()
    second = officer.client.get(
        "/api/v1/search", {"q": "lighthouse", "limit": 2, "cursor": first["next"]}
    ).json()
    ids = [m["id"] for m in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 3 and second["next"] is None
    other = officer.client.get("/api/v1/search", {"q": "keeper", "cursor": first["next"]})
    assert assert_error_shape(other, 400)["field"] == "cursor"


def test_an_unfinished_import_is_invisible_to_search(personas, archive) -> None:
    officer = personas["officer"]
    declare_purpose(officer)
    Source.objects.filter(id=archive.source.id).update(status=Source.Status.RUNNING)
    assert _texts(officer.client.get("/api/v1/search", {"q": "lighthouse"})) == []
