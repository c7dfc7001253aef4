from django.urls import path

from claims import views
from claims.views.campaigns import campaign

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-in/code/", views.sign_in_code, name="sign-in-code"),
    path("sign-in/code/resend/", views.sign_in_resend, name="sign-in-resend"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("code/", views.enter_code, name="enter-code"),
    path("draw-wins/<int:result_id>/claim/", views.claim_draw_win, name="claim-draw-win"),
    path("campaigns/<slug:scheme_code>/", campaign, name="campaign"),
    path("claims/<str:number>/", views.claim_status, name="claim"),
    path("claims/<str:number>/details/", views.claim_details, name="claim-details"),
    path("claims/<str:number>/documents/", views.claim_documents, name="claim-documents"),
    path(
        "claims/<str:number>/documents/<int:document_id>/",
        views.claim_document,
        name="claim-document",
    ),
    path("claims/<str:number>/review/", views.claim_review, name="claim-review"),
    path("claims/<str:number>/resubmit/", views.claim_resubmit_view, name="claim-resubmit"),
]
