"""Helpers shared by the benchmark scripts under bench/ (Python standard library only)."""

import http.client
import json
import os
import platform
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

SHOW_ERRORS = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")


def call(base, token, method, path, body=None, timeout=60):
    """One JSON request on a new connection; returns (status, body bytes), also for 4xx/5xx."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def percentile(values, p):
    """Linear interpolation between the closest ranks; p in [0, 1]."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Client:
    """Keep-alive connections of one thread, one per replica port."""

    def __init__(self, timeout=120):
        self.timeout = timeout
        self.conns = {}

    def request(self, port, token, method, path, body=None, headers=None):
        """Returns (status, body bytes); status 0 when the connection failed."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        h = {"Authorization": "Bearer " + token}
        if data is not None and not headers:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in (1, 2):
            c = self.conns.get(port)
            if c is None:
                c = self.conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout)
            try:
                c.request(method, "/api/v1" + path, body=data, headers=h)
                r = c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError) as e:
                # A kept-alive connection the server closed: retry once on a new one.
                c.close()
                self.conns.pop(port, None)
                if attempt == 2:
                    return 0, f"{type(e).__name__}: {e}".encode()

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns.clear()


def multipart(parts):
    boundary = "----meshgate-bench-" + uuid.uuid4().hex
    out = []
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.append(f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n".encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


class Errors:
    """Counts errors of all threads and keeps the first few for printing."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.first = []

    def add(self, what, port, status, body):
        with self.lock:
            self.count += 1
            if len(self.first) < SHOW_ERRORS:
                text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
                self.first.append(f"{what} on :{port} → {status}: {text[:300]}")


def must(result, what, expect=(200, 201)):
    status, body = result
    if status not in expect:
        raise RuntimeError(f"{what} → {status}: {body[:500].decode(errors='replace')}")
    return json.loads(body) if body else None


def child_env():
    # Unknown MESHGATE_* variables make the server refuse to start, and the caller's own
    # (a config file, a token) must not leak into the measurement.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHGATE_")}
    env["RUST_LOG"] = "warn"  # a log line per request would be part of what is measured
    return env


def cpu_seconds(pid):
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


class Replica:
    def __init__(self, binary, store_url, data_dir, data_root, log_path):
        self.port = free_port()
        self.log_path = log_path
        env = child_env()
        env["MESHGATE_DATA_ROOT"] = data_root
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--store-url", store_url, "--data-dir", data_dir,
             "--listen", f"127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # Ctrl-C reaches the script only, which stops them in order
        )

    def wait_ready(self, deadline):
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/readyz")
                ok = c.getresponse().status == 200
                c.close()
                if ok:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica :{self.port} exited with {self.proc.returncode}:\n{self.tail()}")
            if time.time() > deadline:
                raise RuntimeError(f"replica :{self.port} not ready:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine():
    """The machine line of a RESULTS.md section."""
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}"
