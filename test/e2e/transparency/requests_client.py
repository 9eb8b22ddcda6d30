"""Python requests as a client for the transparency suite: reads a JSON list of requests on
stdin, answers a JSON list of {status, headers: [[name, value], ...], body: base64}. One
process for the whole table (starting Python per row would dominate the suite's time)."""
import base64
import json
import sys
import time

import requests

out = []
with requests.Session() as s:
    for r in json.load(sys.stdin):
        body = base64.b64decode(r["body"]) if r.get("body") is not None else None
        if body is not None and r.get("slow"):
            # Four parts, 50 ms apart (requests sends a generator chunked).
            def parts(b=body):
                n = len(b)
                for i in range(4):
                    time.sleep(0.05)
                    yield b[i * n // 4:(i + 1) * n // 4]
            body = parts()
        res = s.request(r["method"], r["url"], headers=r["headers"], data=body, allow_redirects=False, timeout=20)
        # r.raw.headers keeps repeated headers (Set-Cookie) as separate lines.
        headers = [[k, v] for k, v in res.raw.headers.items()]
        out.append({"status": res.status_code, "headers": headers, "body": base64.b64encode(res.content).decode()})
json.dump(out, sys.stdout)
