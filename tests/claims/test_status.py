"""The status page and "My claims": the timeline in plain words at every step, sending a
document again, documents served only to their owner (or audited staff), and another
customer's claim answered 404 on every claim address."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from claims import services
from claims.models import Claim, ClaimDocument, ClaimStatus
from crm.models import AuditEvent
from crm.roles import Role
from tests.claims.factories import (
    Staff,
    claim_in,
    draft_claim,
    jpeg_bytes,
    pdf_bytes,
    portal_customer,
    require,
    winning_code,
)
from tests.claims.test_claiming import alert, sign_in
from tests.crm.factories import staff_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_storage")]

S = ClaimStatus


@pytest.fixture
def staff():
    return Staff()


@pytest.fixture
def account(client):
    return sign_in(client, portal_customer())


def page_of(client, claim) -> str:
    response = client.get(f"/claim/claims/{claim.number}/")
    assert response.status_code == 200
    return response.content.decode()


def timeline_of(page: str) -> str:
    return page.split('<ol class="timeline">')[1].split("</ol>")[0]


# -- the timeline ------------------------------------------------------------------------------


def test_a_sent_claim_shows_it_was_sent_and_is_waiting(client, account, staff):
    claim = claim_in(S.SUBMITTED, staff=staff, account=account)
    page = page_of(client, claim)
    assert "Sent, waiting to be checked" in page
    assert "Claim sent" in timeline_of(page)
    assert "Alva Winner" in page
    assert "Storgatan 1" in page


def test_a_proposal_is_not_shown_to_the_customer(client, account, staff):
    claim = claim_in(S.PROPOSED, staff=staff, account=account)
    claim = services.claim_send_back(claim=claim, actor=staff.checker, note="internal remark")
    page = page_of(client, claim)
    timeline = timeline_of(page)
    assert timeline.count("<h3>") == 2  # sent, being checked
    assert "Being checked" in timeline
    assert "internal remark" not in page
    assert "propos" not in page.lower()


def test_a_rejection_gives_the_reason_in_plain_words(client, account, staff):
    claim = claim_in(S.REJECTED, staff=staff, account=account)
    page = page_of(client, claim)
    assert "Not approved" in page
    timeline = timeline_of(page)
    assert "Claim not approved" in timeline
    assert "The reason: The receipt is from before the campaign." in timeline


def test_a_dispatched_prize_shows_the_carrier_and_tracking_number(client, account, staff):
    claim = claim_in(S.RELEASED, staff=staff, account=account)
    services.claim_dispatch(
        claim=claim,
        actor=staff.helpdesk,
        carrier="PostNord",
        tracking_number="00370712345678901234",
        tracking_url="https://tracking.example.com/00370712345678901234",
    )
    timeline = timeline_of(page_of(client, claim))
    assert "Prize on its way" in timeline
    assert "<dd>PostNord</dd>" in timeline
    assert (
        '<a href="https://tracking.example.com/00370712345678901234" rel="noopener noreferrer">'
        "00370712345678901234</a>"
    ) in timeline


def test_a_returned_and_redelivered_parcel_shows_each_step(client, account, staff):
    claim = claim_in(S.RETURNED, staff=staff, account=account)
    services.claim_dispatch(
        claim=claim, actor=staff.helpdesk, carrier="Budbee", tracking_number="B1"
    )
    services.claim_deliver(claim=claim, actor=staff.helpdesk)

    timeline = timeline_of(page_of(client, claim))
    headings = [part.split("</h3>")[0] for part in timeline.split("<h3>")[1:]]
    # Newest first
    assert headings == [
        "Delivered",
        "Prize on its way",
        "Parcel returned to us",
        "Prize on its way",
        "Prize being prepared",
        "Claim approved",
        "Being checked",
        "Claim sent",
    ]
    assert timeline.index("Budbee") < timeline.index("PostNord")


def test_a_forfeited_claim_says_the_deadline_passed(client, account, staff):
    claim = claim_in(S.FORFEITED, staff=staff, account=account)
    page = page_of(client, claim)
    assert "Closed: the deadline passed" in page
    assert "The deadline passed before the claim was completed." in timeline_of(page)


# -- sending a document again -----------------------------------------------------------------


def test_the_customer_sends_the_requested_document_again(client, account, staff):
    # Given a claim whose invoice the verifiers asked for again
    claim = claim_in(S.RESUBMISSION_REQUESTED, staff=staff, account=account)
    page = page_of(client, claim)
    assert "We need a document again" in page
    assert "The receipt photo is too blurry to read." in page
    assert "<li>Invoice or receipt</li>" in page
    documents_url = f"/claim/claims/{claim.number}/documents/"
    assert f'href="{documents_url}"' in page

    # The upload page asks only for that document, and offers no sending before it
    upload_page = client.get(documents_url).content.decode()
    assert "Upload the document again" in upload_page
    assert "Photo or scan of the invoice or receipt" in upload_page
    assert "Send the documents" not in upload_page
    too_early = client.post(f"/claim/claims/{claim.number}/resubmit/")
    assert too_early.url == documents_url
    assert Claim.objects.get(pk=claim.pk).status == S.RESUBMISSION_REQUESTED

    # When they upload a sharper photo and send it
    client.post(
        documents_url,
        {"kind": "invoice", "file": SimpleUploadedFile("sharp.jpg", jpeg_bytes((200, 150)))},
    )
    upload_page = client.get(documents_url).content.decode()
    assert "Send the documents" in upload_page
    response = client.post(f"/claim/claims/{claim.number}/resubmit/")

    # Then the claim is sent again and the timeline says so
    assert response.url == f"/claim/claims/{claim.number}/"
    claim.refresh_from_db()
    assert claim.status == S.SUBMITTED
    page = page_of(client, claim)
    assert "Thank you! We have your new documents and will check them." in page
    assert "New documents sent" in timeline_of(page)
    assert (
        ClaimDocument.objects.filter(claim=claim, superseded_at__isnull=True).get().download_name
        == "sharp.jpg"
    )


# -- My claims ---------------------------------------------------------------------------------


def test_my_claims_lists_only_the_customers_own_claims(client, account, staff):
    mine = [
        claim_in(S.DELIVERED, staff=staff, account=account),
        draft_claim(account=account),
    ]
    theirs = claim_in(S.SUBMITTED, staff=staff)

    page = client.get("/claim/").content.decode()

    for claim in mine:
        assert claim.number in page
    assert theirs.number not in page
    assert "You have no claims yet" not in page
    assert "Delivered" in page
    assert "Not sent yet" in page


def test_a_draw_win_waiting_to_be_claimed_is_offered_on_my_claims(client, drawn):
    winner, reserve = drawn
    sign_in(client, winner.customer.portal_account)
    page = client.get("/claim/").content.decode()
    assert "You have won in a prize draw!" in page
    assert winner.draw.prize.name in page

    response = client.post(f"/claim/draw-wins/{winner.pk}/claim/")

    claim = Claim.objects.get(draw_result=winner)
    assert response.url == f"/claim/claims/{claim.number}/details/"
    page = client.get("/claim/").content.decode()
    assert "You have won in a prize draw!" not in page
    assert claim.number in page
    # The reserve, not promoted, is offered nothing
    client.logout()
    sign_in(client, reserve.customer.portal_account)
    assert "You have won in a prize draw!" not in client.get("/claim/").content.decode()
    assert client.post(f"/claim/draw-wins/{winner.pk}/claim/").status_code == 404


# -- access: 404 for anyone else's claim -------------------------------------------------------


def claim_addresses(claim, document):
    base = f"/claim/claims/{claim.number}"
    return [
        ("get", f"{base}/", {}),
        ("get", f"{base}/details/", {}),
        ("post", f"{base}/details/", {"full_name": "Mallory"}),
        ("get", f"{base}/documents/", {}),
        (
            "post",
            f"{base}/documents/",
            {"kind": "invoice", "file": SimpleUploadedFile("x.jpg", jpeg_bytes())},
        ),
        ("get", f"{base}/documents/{document.pk}/", {}),
        ("get", f"{base}/review/", {}),
        ("post", f"{base}/review/", {}),
        ("post", f"{base}/resubmit/", {}),
    ]


def test_another_customers_claim_is_not_found_at_any_address(client, account, staff):
    # Given a claim of someone else, in a state where every page would work for its owner
    victim = portal_customer()
    claim = draft_claim(account=victim)
    document = claim.documents.get()
    before = (claim.full_name, claim.documents.count(), claim.status)

    # When another signed-in customer tries every claim address, they find nothing
    for method, url, data in claim_addresses(claim, document):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (method, url)

    # And nothing changed
    claim.refresh_from_db()
    assert (claim.full_name, claim.documents.count(), claim.status) == before


def test_a_document_of_another_claim_is_not_found_through_ones_own_claim(client, account):
    mine = draft_claim(account=account)
    theirs = draft_claim(account=portal_customer())
    document = theirs.documents.get()
    response = client.get(f"/claim/claims/{mine.number}/documents/{document.pk}/")
    assert response.status_code == 404


def test_a_claim_page_needs_a_signed_in_customer(client, staff):
    claim = draft_claim()
    response = client.get(f"/claim/claims/{claim.number}/")
    assert response.url == f"/claim/sign-in/?next=%2Fclaim%2Fclaims%2F{claim.number}%2F"
    # Staff are not customers, not even with every permission
    client.force_login(staff_user(Role.HELPDESK, is_superuser=True))
    assert client.get(f"/claim/claims/{claim.number}/").status_code == 302


def test_a_draw_win_of_another_customer_is_not_found(client, account):
    from rewards.models import DrawResult

    missing = (DrawResult.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    assert client.post(f"/claim/draw-wins/{missing}/claim/").status_code == 404


# -- documents served back ---------------------------------------------------------------------


def test_the_owner_downloads_a_document_as_an_attachment_that_is_never_sniffed(client, account):
    claim = draft_claim(account=account)
    document = claim.documents.get()

    response = client.get(f"/claim/claims/{claim.number}/documents/{document.pk}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == 'attachment; filename="receipt.jpg"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"".join(response.streaming_content).startswith(b"\xff\xd8\xff")


@pytest.fixture
def admin_client_for(client, settings):
    settings.STAFF_OTP_REQUIRED = False

    def sign_in_staff(role):
        user = staff_user(role)
        client.force_login(user)
        return user

    return sign_in_staff


def test_staff_viewing_an_identity_document_is_audited(client, admin_client_for):
    account = portal_customer()
    claim = draft_claim(account=account)
    require(claim.scheme, id_proof_required=True)
    identity = services.claim_document_add(
        claim=claim,
        actor=account.user,
        kind="id_proof",
        upload=SimpleUploadedFile("passport.pdf", pdf_bytes()),
    )
    helpdesk = admin_client_for(Role.HELPDESK)

    response = client.get(f"/admin/claims/claim/{claim.pk}/documents/{identity.pk}/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="passport.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.filter(action="claim.identity_document_viewed").get()
    assert (event.actor, event.object_id, event.after) == (
        helpdesk,
        str(claim.pk),
        {"document_id": identity.pk, "kind": "id_proof"},
    )
    invoice = claim.documents.get(kind="invoice")
    client.get(f"/admin/claims/claim/{claim.pk}/documents/{invoice.pk}/")
    assert AuditEvent.objects.filter(action="claim.document_viewed", actor=helpdesk).count() == 1


def test_staff_without_the_document_permission_get_nothing(client, admin_client_for):
    claim = draft_claim()
    document = claim.documents.get()
    admin_client_for(Role.OPERATOR)
    response = client.get(f"/admin/claims/claim/{claim.pk}/documents/{document.pk}/")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="claim.document_viewed").exists()


def test_helpdesk_reads_claims_in_the_admin_but_cannot_change_them(client, admin_client_for, staff):
    claim = claim_in(S.DISPATCHED, staff=staff)
    admin_client_for(Role.HELPDESK)

    listing = client.get("/admin/claims/claim/", {"q": claim.number})
    page = client.get(f"/admin/claims/claim/{claim.pk}/change/")

    assert listing.status_code == 200
    assert claim.number in listing.content.decode()
    assert page.status_code == 200
    html = page.content.decode()
    assert "00370712345678901234" in html  # the shipment
    assert "receipt.jpg" in html  # the document, linked to the audited download
    assert 'name="_save"' not in html
    assert client.post(f"/admin/claims/claim/{claim.pk}/change/", {}).status_code == 403
    assert client.get("/admin/claims/claim/add/").status_code == 403


def test_operators_configure_what_a_campaign_asks(client, admin_client_for):
    code = winning_code()
    admin_client_for(Role.OPERATOR)
    response = client.post(
        "/admin/claims/claimrequirements/add/",
        {
            "scheme": code.scheme_id,
            "delivery_address_required": "on",
            "national_id_required": "on",
            "invoice_required": "on",
            "reference_label": "",
            "max_upload_bytes": "",
            "resubmission_days": "7",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    requirements = code.scheme.claim_requirements
    assert (requirements.national_id_required, requirements.resubmission_days) == (True, 7)
    assert AuditEvent.objects.filter(
        action="admin.add", object_type="claims.claimrequirements"
    ).exists()


def test_a_refused_upload_says_why_on_the_status_flow(client, account):
    claim = draft_claim(account=account, complete=False)
    response = client.post(
        f"/claim/claims/{claim.number}/documents/",
        {"kind": "invoice", "file": SimpleUploadedFile("empty.jpg", b"")},
    )
    assert response.status_code == 400
    assert alert(response) == "The file is empty. Choose the file again."


def test_the_portal_speaks_swedish(client, account, staff):
    claim = claim_in(S.REJECTED, staff=staff, account=account)
    client.cookies["django_language"] = "sv"

    page = page_of(client, claim)
    code_page = client.get("/claim/code/").content.decode()
    refusal = client.post("/claim/code/", {"code": "ABCD-EFGH-JKLM-N"}).content.decode()

    assert '<html lang="sv">' in page
    assert "Anspråket godkändes inte" in timeline_of(page)
    assert "Inte godkänt" in page
    assert "Ange din kod" in code_page
    assert "Det är inte en giltig kod." in refusal
