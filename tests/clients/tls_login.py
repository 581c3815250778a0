"""One PyMySQL login, described as JSON on stdout (for tests/tls.rs).

    tls_login.py --port P --user U --password W [--tls] [--ca FILE] [--bind ADDR]

--tls without --ca accepts any certificate (encryption only); with --ca the
certificate must chain to FILE and name 127.0.0.1. On success prints
{"ok": true, "tls": <TLS version or null>, "cipher": ..., "peer_sha256": <hex of
the server certificate>, "port": <@@port of the server that ran the query>};
on a MySQL error {"ok": false, "code": N, "message": "..."}.
"""

import argparse
import hashlib
import json
import ssl
import sys

import pymysql


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", default="")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--ca")
    ap.add_argument("--bind")
    args = ap.parse_args()

    kw = dict(host="127.0.0.1", port=args.port, user=args.user, password=args.password,
              database="test", connect_timeout=10)
    if args.bind:
        kw["bind_address"] = args.bind
    if args.tls:
        if args.ca:
            ctx = ssl.create_default_context(cafile=args.ca)
            ctx.check_hostname = True
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        kw["ssl"] = ctx
    try:
        conn = pymysql.connect(**kw)
    except pymysql.err.MySQLError as e:
        code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
        print(json.dumps({"ok": False, "code": code, "message": str(e.args[-1]) if e.args else str(e)}))
        return 0
    except ssl.SSLError as e:
        print(json.dumps({"ok": False, "code": 0, "message": "TLS: %s" % e}))
        return 0
    sock = conn._sock
    tls = cipher = peer = None
    if isinstance(sock, ssl.SSLSocket):
        tls = sock.version()
        cipher = sock.cipher()[0]
        der = sock.getpeercert(binary_form=True)
        peer = hashlib.sha256(der).hexdigest() if der else None
    with conn.cursor() as cur:
        cur.execute("SELECT @@port")
        port = cur.fetchone()[0]
    conn.close()
    print(json.dumps({"ok": True, "tls": tls, "cipher": cipher, "peer_sha256": peer, "port": port}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
