"""The Celery application. Queues: notifications, runs, default (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("campaigns")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
