"""The Django app config of :mod:`lava_rs.lava_server`."""

from django.apps import AppConfig
from django.conf import settings

from . import swap


class LavaRsServerConfig(AppConfig):
    """Puts lava_rs's scheduler (and, if asked, its template rendering) into LAVA."""

    name = "lava_rs.lava_server"
    # Not "lava_server": that label is LAVA's own app.
    label = "lava_rs_server"
    verbose_name = "lava-rs (Rust scheduler, master and templates)"

    def ready(self):
        swap.install()
        if getattr(settings, "LAVA_RS_DEVICE_TEMPLATES", False):
            from . import templates

            templates.install()
