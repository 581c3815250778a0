#!/usr/bin/python3
"""Opens COUNT authenticated MySQL connections and holds them idle.

Used by benches/perf.sh to measure a proxy's memory per idle client:

    idle_clients.py PORT COUNT HOLD_SECONDS [USER PASSWORD DATABASE]

Logs in COUNT times (one at a time, PyMySQL, autocommit left as the server has
it so no statement follows the login; user app/app, database sbtest unless
given), prints "ready COUNT" on stdout, then holds every connection open until
SIGTERM arrives (or HOLD_SECONDS pass, so it never outlives a killed caller for
long), closes them (COM_QUIT) and exits 0. Exits 1 with the error on stderr
when a login fails.
Needs COUNT + a few free file descriptors (perf.sh raises `ulimit -n`).
"""

import signal
import sys
import time

import pymysql


def main() -> int:
    if len(sys.argv) not in (4, 7):
        print(__doc__, file=sys.stderr)
        return 2
    port, count, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    user, password, database = sys.argv[4:7] if len(sys.argv) == 7 else ("app", "app", "sbtest")

    # SIGTERM: leave through the `finally` below, which closes every connection.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    conns = []
    try:
        for i in range(count):
            try:
                conns.append(
                    pymysql.connect(
                        host="127.0.0.1",
                        port=port,
                        user=user,
                        password=password,
                        database=database,
                        connect_timeout=10,
                        autocommit=None,  # no SET AUTOCOMMIT after the login
                    )
                )
            except Exception as e:  # noqa: BLE001 - report any failure and stop
                print(f"idle_clients: login {i + 1} of {count} to 127.0.0.1:{port} failed: {e}", file=sys.stderr)
                return 1
        print(f"ready {len(conns)}", flush=True)
        time.sleep(hold)
        return 0
    finally:
        for c in conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing what may already be gone
                pass


if __name__ == "__main__":
    sys.exit(main())
