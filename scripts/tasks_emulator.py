"""Run gcloud-tasks-emulator on 127.0.0.1 only (run it with `.venv-tasks-emulator/bin/python`).

The package's own entry point listens on every interface (`[::]:PORT`), which would let anyone on
the network make this machine POST wherever they like. This launcher is the same server, bound to
the loopback interface. It creates the queues named on the command line and stops on SIGTERM.

Usage: .venv-tasks-emulator/bin/python scripts/tasks_emulator.py PORT QUEUE_PATH [QUEUE_PATH ...]
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from concurrent import futures


def main(argv: list[str]) -> int:
    import grpc
    from gcloud_tasks_emulator import server

    class LoopbackAPIThread(server.APIThread):
        def run(self) -> None:
            self._httpd = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            server.add_CloudTasksServicer_to_server(server.Greeter(self._state), self._httpd)
            self._httpd.add_insecure_port(f"127.0.0.1:{self._port}")
            self._httpd.start()
            logging.getLogger("gcloud-tasks-emulator").info("[API] listening on 127.0.0.1:%s", self._port)

    server.APIThread = LoopbackAPIThread
    port, queues = int(argv[0]), argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    emulator = server.create_server("127.0.0.1", port, default_queue_names=queues)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    emulator.start()
    try:
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1:]))
