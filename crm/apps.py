from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from crm import helpdesk, receivers, roles, sms  # noqa: F401 (sms registers a check)
        from crm.admin_site import admin_site
        from crm.imports import tasks as import_tasks  # noqa: F401 (registers the Celery tasks)
        from crm.notifications import subscribers, webhooks

        receivers.connect()
        post_migrate.connect(roles.sync_role_groups_after_migrate, sender=self)
        subscribers.connect()
        webhooks.connect()
        helpdesk.register_crm_panels()
        # SimpleAdminConfig does not look for admin modules: load every app's admin.py into
        # our admin site (what django.contrib.admin's own AdminConfig.ready does).
        autodiscover_modules("admin", register_to=admin_site)
