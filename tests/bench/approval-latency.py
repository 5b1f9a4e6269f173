#!/usr/bin/python3
"""Benchmark (a script, not a test): how long a held statement takes to run once approved.

For ROUNDS rounds per layout, a client (psycopg2, autocommit) sends `DROP TABLE t_N` through a
proxy, where the policy holds it; the script waits until the request is pending, then POSTs the
approval to an admin API and measures, with one monotonic clock, the time from sending the
approve call until the client's DROP TABLE returns (the statement itself takes well under a
millisecond, so this is the decision's way to the waiting session plus the statement).

Layouts:
  single    one proxy, requests in SQLite, approved through its own API
  replicas  two proxies sharing a PostgreSQL store (LISTEN/NOTIFY); the client waits on the
            first, the approval goes to the second's API

Prints one Markdown table: median, p90 and max per layout, and the approve call's own latency.

  tests/bench/approval-latency.py [BUILD_DIR]   (default build-release; ROUNDS=20)

Everything started (postgres, the proxies) is stopped, and the temp dir removed, on exit.
Only 127.0.0.1 is listened on.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build-release")
BINARY = os.path.join(BUILD, "schemagate")
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
ROUNDS = int(os.environ.get("ROUNDS", "20"))
TOKEN = "bench-approver-token-0123456789"
AS_PG = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited (code {proc.returncode}) before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def http(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + TOKEN)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Bench:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="sg-approval-bench-")
        os.chmod(self.tmp, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
        self.procs = []
        self.pg_port = free_port()

    def start_postgres(self):
        data = os.path.join(self.tmp, "data")
        subprocess.run(AS_PG + [f"{PGBIN}/initdb", "-D", data, "-U", "postgres", "-A", "trust"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(data, "postgresql.conf"), "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.pg_port}\nunix_socket_directories = '{self.tmp}'\n"
                    "fsync = off\n")
        p = subprocess.Popen(AS_PG + [f"{PGBIN}/postgres", "-D", data], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.tmp, "postgres.log"), "w"))
        self.procs.append(p)
        wait_port(self.pg_port, p)
        for _ in range(100):
            try:
                psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="postgres", dbname="postgres").close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("postgres did not accept connections")

    def start_proxy(self, name, store_yaml):
        port, admin = free_port(), free_port()
        policy = os.path.join(self.tmp, "policy.yaml")
        with open(policy, "w") as f:
            f.write("mode: enforce\nrules:\n  drop_table: hold\n")
        cfg = os.path.join(self.tmp, f"{name}.yaml")
        with open(cfg, "w") as f:
            f.write(f"admin:\n  address: 127.0.0.1\n  port: {admin}\n  tokens:\n    - {{approver: bench, token: {TOKEN}}}\n"
                    f"approvals:\n  wait_ms: 60000\n  require_distinct_approver: false\n  store: {store_yaml}\n"
                    f"state:\n  path: {os.path.join(self.tmp, name + '-state.db')}\n"
                    f"policy:\n  file: {policy}\nlog:\n  level: warn\n")
        p = subprocess.Popen([BINARY, "serve", "--config", cfg, "--listen", f"127.0.0.1:{port}",
                              "--upstream", f"127.0.0.1:{self.pg_port}"],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, f"{name}.log"), "w"))
        self.procs.append(p)
        wait_port(port, p)
        wait_port(admin, p)
        return port, f"http://127.0.0.1:{admin}"

    def round(self, n, client_port, approve_url, list_url):
        direct = psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="postgres", dbname="postgres")
        direct.autocommit = True
        direct.cursor().execute(f"CREATE TABLE t_{n} (id int)")
        result = {}

        def client():
            c = psycopg2.connect(host="127.0.0.1", port=client_port, user="postgres", dbname="postgres")
            c.autocommit = True
            try:
                c.cursor().execute(f"DROP TABLE t_{n}")
                result["done"] = time.monotonic()
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = str(e)
            finally:
                c.close()

        t = threading.Thread(target=client)
        t.start()
        request_id = None
        deadline = time.monotonic() + 30
        while request_id is None and time.monotonic() < deadline:
            pending = http("GET", list_url + "/v1/requests?status=pending")["requests"]
            if pending:
                request_id = pending[0]["id"]
            else:
                time.sleep(0.005)
        if request_id is None:
            raise RuntimeError("no pending request appeared")
        t0 = time.monotonic()
        http("POST", f"{approve_url}/v1/requests/{request_id}/approve", {"reason": "bench"})
        t_api = time.monotonic()
        t.join(60)
        direct.close()
        if "error" in result or "done" not in result:
            raise RuntimeError(f"round {n}: {result.get('error', 'client did not finish')}")
        return (result["done"] - t0) * 1000, (t_api - t0) * 1000

    def layout(self, name, client_port, approve_url, list_url):
        runs = [self.round(f"{name}_{i}", client_port, approve_url, list_url) for i in range(ROUNDS)]
        total = sorted(r[0] for r in runs)
        api = sorted(r[1] for r in runs)
        p90 = total[max(0, int(len(total) * 0.9) - 1)]
        return (f"| {name} | {ROUNDS} | {statistics.median(total):.1f} | {p90:.1f} | {total[-1]:.1f} | "
                f"{statistics.median(api):.1f} |")

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    if not os.access(BINARY, os.X_OK):
        subprocess.run(["bash", os.path.join(ROOT, "deploy/build.sh"), BUILD, "-DCMAKE_BUILD_TYPE=Release",
                        "-DSG_BUILD_TESTS=OFF"], check=True, env=dict(os.environ, SG_TARGETS="schemagate"))
    b = Bench()
    try:
        b.start_postgres()
        rows = []
        port, api = b.start_proxy("single", "{path: " + os.path.join(b.tmp, "approvals.db") + "}")
        rows.append(b.layout("single", port, api, api))
        dsn = f"host=127.0.0.1 port={b.pg_port} dbname=postgres user=postgres"
        store = "{backend: postgres, dsn: \"" + dsn + "\"}"
        port1, api1 = b.start_proxy("replica1", store)
        _, api2 = b.start_proxy("replica2", store)
        rows.append(b.layout("replicas", port1, api2, api1))
        print("| layout | rounds | approve → statement done, median ms | p90 ms | max ms | approve call, median ms |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(r)
    finally:
        b.close()


if __name__ == "__main__":
    main()
