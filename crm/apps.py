from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CrmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "crm"
    verbose_name = "CRM"

    def ready(self) -> None:
        from crm import receivers, roles

        receivers.connect()
        post_migrate.connect(roles.sync_role_groups_after_migrate, sender=self)
