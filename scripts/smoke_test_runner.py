#!/usr/bin/env python3
"""Post-deployment automation of Protocol 6: run the smoke tests.

Calls the service's critical endpoints through the environment's front door
and checks each answers 200 with a JSON body. Prints one protorun result
object (the exec adapter's JSON contract) as its last line; protorun writes
it to .artifacts/deployment/smoke-test-results.json.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request

CRITICAL = ["/healthz", "/version", "/api/items", "/api/orders"]
EXTENDED = []


def run(url, timeout):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(65536)
            json.loads(body)
            return resp.status, (time.monotonic() - start) * 1000, None
    except urllib.error.HTTPError as e:
        return e.code, (time.monotonic() - start) * 1000, "HTTP %d" % e.code
    except ValueError:
        return 200, (time.monotonic() - start) * 1000, "body is not JSON"
    except Exception as e:
        return None, (time.monotonic() - start) * 1000, str(e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", required=True)
    ap.add_argument("--url", required=True, help="base URL of the environment")
    ap.add_argument("--critical", action="store_true", help="run the critical tests only")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    paths = CRITICAL if args.critical else CRITICAL + EXTENDED
    tests, failed = [], []
    for p in paths:
        status, latency, err = run(args.url.rstrip("/") + p, args.timeout)
        ok = err is None and status == 200
        tests.append({"name": "GET " + p, "passed": ok, "status_code": status, "latency_ms": round(latency, 2), "error": err})
        if not ok:
            failed.append("GET %s: %s" % (p, err))
    result = {
        "status": "failed" if failed else "passed",
        "message": ("%d of %d critical smoke tests failed: %s" % (len(failed), len(tests), "; ".join(failed)))
        if failed else "all %d smoke tests passing" % len(tests),
        "measurements": {"tests": len(tests), "failed": len(failed), "passed": len(tests) - len(failed)},
        "details": {"environment": args.env, "tests": tests},
    }
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
