from django.urls import path

from claims.api import views

app_name = "claims-api"

urlpatterns = [
    path("", views.ClaimListView.as_view(), name="claims"),
    path("sign-in/", views.SignInView.as_view(), name="sign-in"),
    path("sign-in/verify/", views.SignInVerifyView.as_view(), name="sign-in-verify"),
    path("me/", views.MeView.as_view(), name="me"),
    path("codes/", views.CodeEntryView.as_view(), name="codes"),
    path("draw-wins/", views.DrawWinListView.as_view(), name="draw-wins"),
    path(
        "draw-wins/<int:result_id>/claim/",
        views.DrawWinClaimView.as_view(),
        name="draw-win-claim",
    ),
    path("<str:number>/", views.ClaimDetailView.as_view(), name="claim"),
    path("<str:number>/documents/", views.DocumentUploadView.as_view(), name="claim-documents"),
    path(
        "<str:number>/documents/<int:document_id>/",
        views.DocumentDownloadView.as_view(),
        name="claim-document",
    ),
    path("<str:number>/submit/", views.ClaimSubmitView.as_view(), name="claim-submit"),
]
