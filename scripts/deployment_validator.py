#!/usr/bin/env python3
"""Pre-phase automation of Protocol 6: validate every deployment target.

For each environment it checks that the service answers /healthz and
/version through the front door. It prints one protorun result object (the
exec adapter's JSON contract) as its last line of stdout; protorun writes it
to the evidence file (.artifacts/deployment/validation.json).

Standard library only, so it runs wherever python3 does.
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def probe(url, timeout):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(65536)
            return resp.status, body, (time.monotonic() - start) * 1000, None
    except urllib.error.HTTPError as e:
        return e.code, e.read(65536), (time.monotonic() - start) * 1000, None
    except Exception as e:  # unreachable, timeout, bad answer
        return None, b"", (time.monotonic() - start) * 1000, str(e)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="all", help="environment to validate, or all")
    ap.add_argument("--staging", required=True, help="staging base URL")
    ap.add_argument("--production", required=True, help="production base URL")
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--output", help="also write the report to this file")
    args = ap.parse_args()

    envs = {"staging": args.staging, "production": args.production}
    if args.env != "all":
        envs = {args.env: envs[args.env]}
    checks, failed = {}, []
    for name, base in envs.items():
        env_checks = {}
        for path in ("/healthz", "/version"):
            status, body, latency, err = probe(base.rstrip("/") + path, args.timeout)
            ok = status == 200
            env_checks[path] = {"status_code": status, "latency_ms": round(latency, 2), "ok": ok}
            if err:
                env_checks[path]["error"] = err
            if path == "/version" and ok:
                try:
                    env_checks[path]["version"] = json.loads(body).get("version")
                except ValueError:
                    pass
            if not ok:
                failed.append("%s%s: %s" % (name, path, err or "HTTP %s" % status))
        checks[name] = env_checks

    result = {
        "status": "failed" if failed else "passed",
        "message": "; ".join(failed) if failed else "all %d environments valid" % len(envs),
        "measurements": {"environments": len(envs), "failures": len(failed)},
        "details": {"checks": checks},
    }
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
