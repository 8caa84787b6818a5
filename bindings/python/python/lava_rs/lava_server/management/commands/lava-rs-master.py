"""``manage.py lava-rs-master``: LAVA's lava-master with lava_rs taking the protocol decisions.

The options are lava-master's (LAVA 2020.05): ``--master-socket``, ``--event-url``,
``--ipv6``, ``--encrypt``, ``--master-cert``, ``--slaves-certs``, and LAVA's daemon options
``--level``, ``--log-file``, ``--user``, ``--group``. Run it instead of lava-master, beside
LAVA's lava-logs. See :mod:`lava_rs.lava_server.master`.
"""

import zmq

from lava_common.version import __version__
from lava_scheduler_app.utils import get_encryption_settings
from lava_server.cmdutils import LAVADaemonCommand

from lava_rs.lava_server.master import DatabaseLost, MasterLoop

FORMAT = "%(asctime)-15s %(levelname)7s %(message)s"


class Command(LAVADaemonCommand):
    help = "LAVA dispatcher master, with the lava_rs protocol machine and scheduler"
    default_logfile = "/var/log/lava-server/lava-rs-master.log"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        net = parser.add_argument_group("network")
        net.add_argument(
            "--master-socket",
            default="tcp://*:5556",
            help="Socket for master-slave communication. Default: tcp://*:5556",
        )
        net.add_argument(
            "--event-url", default="tcp://localhost:5500", help="URL of the publisher"
        )
        net.add_argument(
            "--ipv6", default=False, action="store_true", help="Enable IPv6 on the sockets"
        )
        net.add_argument(
            "--encrypt", default=False, action="store_true", help="Encrypt messages"
        )
        net.add_argument(
            "--master-cert",
            default="/etc/lava-dispatcher/certificates.d/master.key_secret",
            help="Certificate for the master socket",
        )
        net.add_argument(
            "--slaves-certs",
            default="/etc/lava-dispatcher/certificates.d",
            help="Directory for slaves certificates",
        )

    def handle(self, *args, **options):
        self.setup_logging("lava-rs-master", options["level"], options["log_file"], FORMAT)
        self.logger.info("[INIT] Starting lava-rs-master (LAVA %s, protocol 3)", __version__)
        if not self.drop_privileges(options["user"], options["group"]):
            self.logger.error("[INIT] Unable to drop privileges")
            return
        encryption = get_encryption_settings(options)
        (pipe_r, _) = self.setup_zmq_signal_handler()
        try:
            loop = MasterLoop(
                self.logger,
                options["master_socket"],
                event_url=options["event_url"],
                ipv6=options["ipv6"],
                encryption=encryption if encryption["encrypt"] else None,
                stop_fd=pipe_r,
            )
        except (OSError, zmq.ZMQError) as exc:
            self.logger.error("[INIT] cannot open the sockets: %s", exc)
            raise SystemExit(1)
        self.logger.info("[INIT] Starting main loop")
        try:
            loop.run()
        except DatabaseLost as exc:
            self.logger.error("[CLOSE] %s: leaving (a restart restores the state)", exc)
            raise SystemExit(1)
        except Exception:
            # Nothing queued was sent after the failure: a restart restores the state.
            self.logger.exception("[CLOSE] unexpected error, leaving")
            raise SystemExit(1)
        self.logger.info("[CLOSE] lava-rs-master stopped")
