from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "dmvault.ops"
    label = "dmvault_ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from dmvault.ops import checks, jobs, ledger, metrics

        checks.register()
        jobs.connect()
        ledger.connect()
        metrics.instrument_search()
