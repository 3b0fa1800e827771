#!/usr/bin/env python3
"""A visit counter behind wadi in upstream mode, standard library only.

wadi holds the session for each request and passes two headers:
  Wadi-Session  the session's id, when the request has one
  Wadi-Request  a token naming this request on the node-local session API
The app keeps no state: the count lives in the session, so it survives
restarts of this process and of wadi, and follows the session across a farm.

Configuration, from the environment:
  PORT           port to listen on (127.0.0.1), default 9000
  NODE           the name shown in answers, default "python"
  WADI_API       unix:///path/to/api.sock or http://127.0.0.1:PORT
  WADI_API_TOKEN bearer token for a TCP API (app_api.token)
"""

import http.client
import http.server
import json
import os
import socket
import sys
import urllib.parse

NODE = os.environ.get("NODE", "python")
API = os.environ.get("WADI_API", "unix:///run/wadi/app.sock")
TOKEN = os.environ.get("WADI_API_TOKEN", "")


class UnixConnection(http.client.HTTPConnection):
    """An HTTP connection over a unix socket (urllib has none)."""

    def __init__(self, path, timeout=10):
        super().__init__("wadi", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class APIError(Exception):
    def __init__(self, status, body):
        super().__init__(f"session API answered {status}: {body}")
        self.status = status
        self.body = body


def api(method, path, request_token, body=None):
    """Calls the session API on behalf of the request; returns the JSON."""
    if API.startswith("unix://"):
        conn = UnixConnection(API[len("unix://"):])
    else:
        u = urllib.parse.urlsplit(API)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    headers = {"Wadi-Request": request_token}
    if TOKEN:
        headers["Authorization"] = "Bearer " + TOKEN
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = {"error": raw.decode(errors="replace")}
    if resp.status >= 300:
        raise APIError(resp.status, answer)
    return answer


def session_of(request_token):
    """The request's session, created if it has none (like session.From)."""
    # POST /v1/sessions returns the request's session, creating it only if
    # needed; the response wadi sends to the client then carries the cookie.
    return api("POST", "/v1/sessions", request_token)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue handling

    def do_POST(self):
        if self.path != "/api/incr":
            return self.reply(404, {"error": "not found"})
        self.drain()
        token = self.header_token()
        if token is None:
            return
        try:
            s = session_of(token)
            count = int(s["attributes"].get("count", "0") or "0") + 1
            s = api("PUT", "/v1/sessions/current/attributes/count", token, str(count))
        except (APIError, OSError, ValueError) as e:
            return self.reply(502, {"error": str(e)})
        self.reply(200, {"node": NODE, "id": s["id"], "count": count, "attributes": s["attributes"]})

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"ok": True})
        if self.path != "/api/session":
            return self.reply(404, {"error": "not found"})
        token = self.header_token()
        if token is None:
            return
        try:
            s = session_of(token)
        except (APIError, OSError) as e:
            return self.reply(502, {"error": str(e)})
        count = int(s["attributes"].get("count", "0") or "0")
        self.reply(200, {"node": NODE, "id": s["id"], "count": count, "attributes": s["attributes"]})

    def header_token(self):
        token = self.headers.get("Wadi-Request")
        if not token:
            self.reply(500, {"error": "no Wadi-Request header: is wadi in front in upstream mode?"})
            return None
        return token

    def drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("python-visits: " + (fmt % args) + "\n")


def main():
    port = int(os.environ.get("PORT", "9000"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    sys.stderr.write(f"python-visits {NODE} listening on 127.0.0.1:{port}, API {API}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
