from django.apps import AppConfig


class RewardsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards"

    def ready(self) -> None:
        from rewards import tasks_codes  # noqa: F401  (registers the codes and draws tasks)

        __import__("rewards.customer_panel").customer_panel.register()  # the customer 360
