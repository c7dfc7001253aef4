"""Every API answers errors in one shape, ``{"code", "message"}`` (config.api_errors), and the
OpenAPI schema says what the endpoints really send and accept. Found by fuzzing the running
API against its own schema (schemathesis, 2026-12-05): the staff APIs answered a refusal
with DRF's ``{"detail"}``, the integrators' endpoints took form-encoded bodies the schema
could not describe, and fields that can be null were documented as never null."""

import logging

import pytest
import yaml
from django.urls import reverse
from rest_framework.exceptions import ErrorDetail, PermissionDenied

from config.api_errors import api_exception_handler
from rewards.models import CustomerEvent, Journal
from tests.rewards.factories import make_api_key, make_participant
from tests.rewards.test_api_validation import GOOD_EVENT


@pytest.fixture
def key(merchant):
    return make_api_key(merchant)


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["rewards-api:event-create", "rewards-api:spend-create"])
def test_an_integrator_body_that_is_not_json_gets_a_415_and_posts_nothing(
    client, key, scheme, merchant, url_name
):
    participant = make_participant(scheme)
    body = {**GOOD_EVENT, "participant": participant.pk, "merchant": merchant.code}
    events, journals = CustomerEvent.objects.count(), Journal.objects.count()

    response = client.post(reverse(url_name), body, HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 415
    assert response.json() == {
        "code": "unsupported_media_type",
        "message": 'Unsupported media type "multipart/form-data; boundary=BoUnDaRyStRiNg" '
        "in request.",
    }
    assert (CustomerEvent.objects.count(), Journal.objects.count()) == (events, journals)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/verification/queue/",
        "/api/v1/verification/metrics/",
        "/api/v1/dashboards/loyalty/",
        "/api/v1/dashboards/exports/",
    ],
)
def test_the_staff_apis_refuse_a_stranger_in_the_common_shape(client, url):
    response = client.get(url)

    assert response.status_code == 403
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
    }


@pytest.mark.django_db
def test_a_verification_action_refuses_a_stranger_in_the_common_shape(client):
    response = client.post("/api/v1/verification/claims/1/take/")

    assert response.status_code == 403
    assert response.json()["code"] == "not_authenticated"


def test_an_unexpected_error_is_logged_and_answered_with_a_json_500(caplog):
    with caplog.at_level(logging.ERROR, logger="config.api_errors"):
        response = api_exception_handler(RuntimeError("boom"), {"view": None})

    assert response.status_code == 500
    assert response.data == {
        "code": "server_error",
        "message": "Something went wrong on our side. Try again.",
    }
    assert "boom" in caplog.text


def test_a_refusal_keeps_the_code_it_was_raised_with():
    refusal = PermissionDenied(ErrorDetail("Not yours.", code="not_yours"))

    response = api_exception_handler(refusal, {"view": None})

    assert response.status_code == 403
    assert response.data == {"code": "not_yours", "message": "Not yours."}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        return yaml.safe_load(Client().get(reverse("schema")).content)


def test_the_schema_marks_what_can_be_null(schema):
    components = schema["components"]["schemas"]

    assert components["Offer"]["properties"]["category"]["nullable"] is True
    assert components["Offer"]["properties"]["offer_type"]["nullable"] is True
    assert components["Participant"]["properties"]["replaced_by"]["nullable"] is True


def test_the_schema_says_the_integrators_send_json_and_keys_are_never_blank(schema):
    for path in ("/api/v1/events/", "/api/v1/spends/", "/api/v1/participants/"):
        operation = schema["paths"][path]["post"]
        assert list(operation["requestBody"]["content"]) == ["application/json"], path
        assert "415" in operation["responses"], path
    components = schema["components"]["schemas"]
    assert components["EventCreate"]["properties"]["source"]["minLength"] == 1
    assert components["EventCreate"]["properties"]["external_id"]["minLength"] == 1
    assert components["SpendCreate"]["properties"]["idempotency_key"]["minLength"] == 1


def test_the_schema_documents_the_staff_apis_refusals(schema):
    for path in ("/api/v1/verification/queue/", "/api/v1/verification/metrics/"):
        refusal = schema["paths"][path]["get"]["responses"]["403"]
        assert refusal["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_the_schema_documents_the_other_merchant_refusal_and_blank_optional_fields(schema):
    for path in ("/api/v1/events/", "/api/v1/spends/"):
        assert "403" in schema["paths"][path]["post"]["responses"], path
    event = schema["components"]["schemas"]["EventCreate"]["properties"]
    for field in ("payment_medium", "area", "achievement_code", "original_external_id"):
        assert event[field]["minLength"] == 1, field
    assert schema["components"]["schemas"]["Identifier"]["properties"]["value"]["minLength"] == 1


@pytest.mark.django_db
def test_an_unknown_api_url_with_a_newline_still_answers_json(client):
    response = client.get("/api/v1/x%0Ay/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "There is no such API URL."}
