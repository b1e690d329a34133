#!/usr/bin/env python3
"""Pre-production automation of Protocol 6: create a rollback snapshot.

Asks the environment's deployment API (POST {admin}/snapshot) to record the
version it runs now, so a rollback can return to it. Prints one protorun
result object (the exec adapter's JSON contract) as its last line.
"""
import argparse
import json
import sys
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--snapshot", action="store_true", help="create a snapshot (required)")
    ap.add_argument("--admin", required=True, help="base URL of the environment's deployment API")
    ap.add_argument("--id", default="", help="the snapshot's name (the run's own: its rollback names it); "
                    "one that exists is kept as it was, never taken again")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    if not args.snapshot:
        print(json.dumps({"status": "error", "message": "nothing to do: pass --snapshot"}))
        return 2
    body = json.dumps({"id": args.id} if args.id else {}).encode()
    req = urllib.request.Request(args.admin.rstrip("/") + "/snapshot", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            snap = json.loads(resp.read(65536))
    except urllib.error.HTTPError as e:
        print(json.dumps({"status": "failed", "message": "snapshot of %s refused: HTTP %d" % (args.env, e.code)}))
        return 1
    except Exception as e:
        print(json.dumps({"status": "failed", "message": "snapshot of %s failed: %s" % (args.env, e)}))
        return 1
    print(json.dumps({
        "status": "passed",
        "message": "snapshot %s of %s created (current %s)" % (snap.get("id"), args.env, snap.get("current")),
        "measurements": {"snapshot": snap.get("id"), "current": snap.get("current"), "previous": snap.get("previous")},
        "details": {"snapshot": snap},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
