from django.urls import path

from verification import views

app_name = "verification"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk-confirm/", views.bulk_decide, name="bulk-confirm"),
    path("claims/<int:claim_id>/", views.claim_review, name="claim"),
    path("claims/<int:claim_id>/take/", views.claim_take, name="take"),
    path("claims/<int:claim_id>/give-back/", views.claim_give_back, name="give-back"),
    path(
        "claims/<int:claim_id>/documents/<int:document_id>/",
        views.claim_document,
        name="document",
    ),
    path("claims/<int:claim_id>/invoice/", views.claim_invoice, name="invoice"),
    path("claims/<int:claim_id>/propose/", views.claim_propose, name="propose"),
    path("claims/<int:claim_id>/decide/", views.claim_decide, name="decide"),
    path("fulfilment/", views.fulfilment, name="fulfilment"),
    path("fulfilment/release/", views.fulfilment_release, name="release"),
    path("fulfilment/batches/<int:batch_id>/", views.batch, name="batch"),
    path("fulfilment/batches/<int:batch_id>/export/", views.batch_export, name="batch-export"),
    path("fulfilment/batches/<int:batch_id>/import/", views.batch_import, name="batch-import"),
    path(
        "fulfilment/batches/<int:batch_id>/claims/<int:claim_id>/dispatch/",
        views.item_dispatch,
        name="item-dispatch",
    ),
    path(
        "fulfilment/batches/<int:batch_id>/claims/<int:claim_id>/deliver/",
        views.item_deliver,
        name="item-deliver",
    ),
    path("audit/", views.audit_trail, name="audit"),
    path("audit/chain-check/", views.audit_chain_check, name="audit-chain-check"),
    path("metrics/", views.metrics, name="metrics"),
]
