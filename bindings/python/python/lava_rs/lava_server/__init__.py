"""lava_rs inside LAVA 2020.05's Django server: a Django app (label ``lava_rs_server``).

Add ``"lava_rs.lava_server"`` to a LAVA server's ``INSTALLED_APPS`` and, when Django starts:

* every import of ``lava_scheduler_app.scheduler`` (lava-master's, any other) gives
  :mod:`lava_rs.lava_server.scheduler`, whose decisions are taken by ``lava_rs.scheduler``;
* ``manage.py lava-rs-master`` (lava-master's options) serves LAVA's slaves with
  ``lava_rs.master.Master`` over LAVA's models; LAVA's lava-logs keeps collecting logs;
* with the setting ``LAVA_RS_DEVICE_TEMPLATES = True``, device dictionaries are rendered by
  ``lava_rs.templates`` instead of Jinja2 (:mod:`lava_rs.lava_server.templates`).

See docs/python.md, "Inside Django LAVA".
"""

# Django 2.2 (LAVA 2020.05's) needs the app config named when INSTALLED_APPS lists the package.
default_app_config = "lava_rs.lava_server.apps.LavaRsServerConfig"
