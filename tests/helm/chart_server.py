"""A Helm chart repository for the tests: a directory served over loopback HTTP,
optionally behind basic auth (CHART_AUTH=user:password), every request logged as a
JSON line (path, User-Agent, whether credentials came) to CHART_LOG. Prints the
port it listens on, then serves until killed."""
import base64
import functools
import http.server
import json
import os
import sys

directory = sys.argv[1]
auth = os.environ.get("CHART_AUTH")
expected = "Basic " + base64.b64encode(auth.encode()).decode() if auth else None
log_path = os.environ["CHART_LOG"]


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        sent = self.headers.get("Authorization")
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({
                "path": self.path,
                "agent": self.headers.get("User-Agent", ""),
                "credentials": sent is not None,
            }) + "\n")
        if expected and sent != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        super().do_GET()


server = http.server.ThreadingHTTPServer(
    ("127.0.0.1", 0), functools.partial(Handler, directory=directory))
print(server.server_address[1], flush=True)
server.serve_forever()
