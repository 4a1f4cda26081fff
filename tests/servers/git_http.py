"""A git smart-HTTP server for the push tests: `git http-backend` behind
Basic authentication, on 127.0.0.1.

Usage: git_http.py PROJECT_ROOT TOKEN LOG PORT_FILE

Like a public repository on GitHub, anyone may fetch, but a push
(`git-receive-pack`) must carry user `x-access-token` and password TOKEN,
else it gets 401 with a WWW-Authenticate challenge (so git asks its
credential helper). Each request's method, path and whether it authenticated are
appended to LOG as JSON lines; the Authorization header itself never is.
"""
import base64
import http.server
import json
import os
import subprocess
import sys

ROOT, TOKEN, LOG, PORT_FILE = sys.argv[1:5]
WANT = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle_one(self):
        authed = self.headers.get("Authorization") == WANT
        push = "git-receive-pack" in self.path
        with open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "push": push, "authed": authed}) + "\n")
        if push and not authed:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="mlci-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   REQUEST_METHOD=self.command, QUERY_STRING=query, REMOTE_USER="x-access-token" if authed else "",
                   REMOTE_ADDR="127.0.0.1", CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)))
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = handle_one
    do_POST = handle_one


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
