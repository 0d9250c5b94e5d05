#!/usr/bin/env python3
"""A webhook receiver for the tests: answers every POST on 127.0.0.1:PORT and appends its body as
one line to FILE (with the request's path and Authorization header). The first FAIL_FIRST requests
are answered 500 without being kept, to exercise retries. Writes FILE.ready once listening."""
import http.server
import json
import sys

port, out, fail_first = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
seen = 0


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        seen += 1
        if seen <= fail_first:
            self.send_response(500)
            self.end_headers()
            return
        record = {"path": self.path, "authorization": self.headers.get("Authorization", ""),
                  "content_type": self.headers.get("Content-Type", ""), "body": json.loads(body)}
        with open(out, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", port), Handler)
open(out + ".ready", "w").close()
server.serve_forever()
