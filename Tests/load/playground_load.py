"""Load test of the Playground server (Python standard library only).

Starts `axon playground` on loopback and, for about a minute:
  1. load: SESSIONS sessions (by default 50) train continuously with heavy settings (6 hidden layers of 8,
     all 7 features; one in five on 10^4 uploaded points), each with an open event stream, while CLIENTS
     clients (by default 8) send a steady mix of API calls: snapshots, point queries, config changes, steps,
     uploads, and the page itself;
  2. limits: 400 slowloris connections dribble header lines while a client keeps working; a request with a
     32 KiB header and one with a 300 KiB body are refused; the server must close the slow connections after
     its connection timeout and keep serving throughout;
  3. reclamation: every client goes away; after the session idle timeout every session must be gone.
It prints requests/s, p50/p99 latency, events received and the server's peak RSS, and exits non-zero if any
response was a 5xx, a connection failed, the server died, RSS passed --rss-limit-mib, or a limit did not hold.

Usage: python3 playground_load.py AXON_BINARY [--seconds 40] [--sessions 50] [--clients 8] [--rss-limit-mib 400]
"""
import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("axon")
parser.add_argument("--seconds", type=float, default=40)
parser.add_argument("--sessions", type=int, default=50)
parser.add_argument("--clients", type=int, default=8)
parser.add_argument("--light", action="store_true", help="default settings (2 hidden layers, 2 features, no uploads)")
parser.add_argument("--rss-limit-mib", type=float, default=400)
parser.add_argument("--slow-connections", type=int, default=400)
args = parser.parse_args()

IDLE_TIMEOUT = 6  # seconds before an idle session is reclaimed (the server's --idle-timeout)
CONNECTION_TIMEOUT = 4  # seconds before a silent connection is closed (--connection-timeout)
failures = []


def fail(message):
    failures.append(message)
    print("FAIL: " + message, flush=True)


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def request(self, method, path, body=b"", content_type="application/json"):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += f"Content-Type: {content_type}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed by the server")
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding") == "chunked":
            data = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, data

    def close(self):
        if self.writer:
            self.writer.close()
            self.writer = None


def rss_mib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def upload_csv(rows, rng):
    lines = ["x1,x2,label"]
    for _ in range(rows):
        x, y = rng.uniform(-5, 5), rng.uniform(-5, 5)
        lines.append(f"{x:.3f},{y:.3f},{int(x * y > 0)}")
    return ("\n".join(lines) + "\n").encode()


latencies = {"read": [], "write": [], "page": []}
statuses = {}
events = [0]


def record(kind, started, status):
    latencies[kind].append(time.perf_counter() - started)
    statuses[status] = statuses.get(status, 0) + 1
    if status >= 500:
        fail(f"status {status}")


async def stream(port, sid, stop):
    """Reads a session's event stream until told to stop, counting events."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /api/sessions/{sid}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    try:
        while not stop.is_set():
            try:
                data = await asyncio.wait_for(reader.read(65536), 0.5)
            except asyncio.TimeoutError:
                continue
            if not data:
                if not stop.is_set():
                    fail(f"event stream of {sid} closed by the server after {events[0]} events in all")
                return
            events[0] += data.count(b"data: ")
    finally:
        writer.close()


async def client(port, ids, stop, seed, small_upload):
    """A steady mix of API calls, as a page does: mostly reads, some changes."""
    rng = random.Random(seed)
    conn = Connection(port)
    while not stop.is_set():
        sid = rng.choice(ids)
        r = rng.random()
        started = time.perf_counter()
        try:
            if r < 0.35:
                kind, (status, _) = "read", await conn.request("GET", f"/api/sessions/{sid}")
            elif r < 0.55:
                kind, (status, _) = "read", await conn.request("GET", f"/api/sessions/{sid}/points")
            elif r < 0.70:
                patch = {"learningRate": rng.choice([0.003, 0.01, 0.03]), "regularization": rng.choice(["none", "L2"])}
                kind, (status, _) = "write", await conn.request("PUT", f"/api/sessions/{sid}/config", json.dumps(patch).encode())
            elif r < 0.80:
                kind, (status, _) = "write", await conn.request("POST", f"/api/sessions/{sid}/step", b'{"epochs": 1}')
            elif r < 0.85:
                kind, (status, _) = "write", await conn.request("POST", f"/api/sessions/{sid}/upload", small_upload, "text/csv")
            elif r < 0.92:
                kind, (status, _) = "read", await conn.request("GET", "/api/preview/spiral")
            else:
                kind, (status, _) = "page", await conn.request("GET", "/")
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
            fail(f"client {seed}: {e!r}")
            conn.close()
            continue
        record(kind, started, status)
        await asyncio.sleep(0.01)
    conn.close()


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def summary(name, values):
    return f"{name} p50 {percentile(values, 50) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms ({len(values)} requests)"


async def slow_connection(port, until):
    """Sends a request head one header line per second and never finishes it; returns whether the server
    closed the connection (or answered) before `until`."""
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        fail(f"slowloris: could not connect: {e!r}")
        return False
    try:
        w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        reading = asyncio.create_task(r.read(1024))
        n = 0
        while time.monotonic() < until:
            done, _ = await asyncio.wait({reading}, timeout=1)
            if done:
                return True
            n += 1
            w.write(f"X-Slow-{n}: aaaaaaaaaa\r\n".encode())
            await w.drain()
        reading.cancel()
        return False
    except (OSError, ConnectionError):
        return True
    finally:
        w.close()


async def slowloris(port, count, seconds):
    """Opens `count` slow connections; returns how many the server closed within `seconds`, and how many."""
    until = time.monotonic() + seconds
    results = await asyncio.gather(*[slow_connection(port, until) for _ in range(count)])
    return sum(results), count


server_log = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"playground_load_{os.getpid()}.log"), "w+")


async def main():
    server = subprocess.Popen([args.axon, "playground", "--port", "0", "--max-sessions", str(args.sessions + 8),
                               "--idle-timeout", str(IDLE_TIMEOUT), "--connection-timeout", str(CONNECTION_TIMEOUT)],
                              stdout=subprocess.PIPE, stderr=server_log, text=True)
    line = server.stdout.readline()
    match = re.search(r"http://[^:]+:(\d+)/", line)
    if not match:
        server_log.seek(0)
        print("the server did not start: " + line + server_log.read())
        sys.exit(1)
    port = int(match.group(1))
    peak = [0.0]

    async def sample():
        while server.poll() is None:
            peak[0] = max(peak[0], rss_mib(server.pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    rng = random.Random(1)
    big_upload, small_upload = upload_csv(10_000, rng), upload_csv(200, rng)

    # 1. Load.
    conn = Connection(port)
    ids = []
    stop = asyncio.Event()
    streams = []  # each session's event stream opens with it, as the page's does
    heavy = {"hiddenLayers": [8, 8, 8, 8, 8, 8], "samples": 2000, "dataset": "spiral", "optimizer": "adam",
             "features": ["x1", "x2", "x1Squared", "x2Squared", "x1x2", "sinX1", "sinX2"], "activation": "tanh"}
    for i in range(args.sessions):
        status, data = await conn.request("POST", "/api/sessions", b"" if args.light else json.dumps(heavy).encode())
        if status != 201:
            fail(f"creating session {i}: status {status}: {data[:200]!r}")
            continue
        sid = json.loads(data)["id"]
        ids.append(sid)
        streams.append(asyncio.create_task(stream(port, sid, stop)))
        if not args.light and i % 5 == 0:
            status, data = await conn.request("POST", f"/api/sessions/{sid}/upload", big_upload, "text/csv")
            if status != 200:
                fail(f"uploading 10^4 points: status {status}: {data[:200]!r}")
        await conn.request("POST", f"/api/sessions/{sid}/play")
    conn.close()
    print(f"{len(ids)} sessions playing ({'light' if args.light else 'heavy'}), {args.clients} clients, {args.seconds:.0f} s",
          flush=True)
    started = time.perf_counter()
    clients = [asyncio.create_task(client(port, ids, stop, seed, small_upload)) for seed in range(args.clients)]
    await asyncio.sleep(args.seconds)
    stop.set()
    await asyncio.gather(*clients)
    elapsed = time.perf_counter() - started
    total = sum(len(v) for v in latencies.values())
    load_peak = peak[0]
    print(f"load: {total / elapsed:.0f} requests/s; {summary('reads', latencies['read'])}; {summary('writes', latencies['write'])}; "
          f"{summary('page', latencies['page'])}; "
          f"statuses {dict(sorted(statuses.items()))}; {events[0]} events on {len(ids)} streams; "
          f"server RSS peak {load_peak:.0f} MiB", flush=True)

    # 2. Limits, with the sessions still training.
    latencies["read"], latencies["write"], latencies["page"] = [], [], []
    stop2 = asyncio.Event()
    worker = asyncio.create_task(client(port, ids, stop2, 99, small_upload))
    closed, opened = await slowloris(port, args.slow_connections, CONNECTION_TIMEOUT + 6)
    stop2.set()
    await worker
    print(f"slowloris: the server closed {closed} of {opened} slow connections within {CONNECTION_TIMEOUT + 6} s "
          f"(connection timeout {CONNECTION_TIMEOUT} s); meanwhile {summary('reads', latencies['read'])}", flush=True)
    if closed < opened:
        fail(f"slowloris: {opened - closed} slow connections still open")
    if not latencies["read"]:
        fail("slowloris: no request got through meanwhile")
    conn = Connection(port)
    big_header = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 32768 + b"\r\n\r\n"
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(big_header)
    await w.drain()
    reply = await asyncio.wait_for(r.read(256), 10)
    w.close()
    if reply.startswith(b"HTTP/1.1 2"):
        fail(f"a 32 KiB header was accepted: {reply[:60]!r}")
    first_line = reply.split(b"\r\n")[0].decode(errors="replace")
    print("32 KiB header: " + (f"refused with {first_line}" if reply else "connection closed"), flush=True)
    status, _ = await conn.request("POST", f"/api/sessions/{ids[0]}/upload", b"1,2,0\n" * 50_000, "text/csv")
    print(f"300 KiB body: status {status}", flush=True)
    if status != 413:
        fail(f"a 300 KiB body got status {status}, expected 413")
    status, _ = await conn.request("GET", f"/api/sessions/{ids[0]}")
    if status != 200:
        fail(f"after the limit checks: status {status}")
    conn.close()

    # 3. Reclamation: nothing touches the sessions now.
    stop.set()
    await asyncio.gather(*streams)
    await asyncio.sleep(IDLE_TIMEOUT + 4)
    conn = Connection(port)
    remaining = 0
    for sid in ids:
        status, _ = await conn.request("GET", f"/api/sessions/{sid}/points")
        remaining += status != 404
    conn.close()
    print(f"reclaimed: {len(ids) - remaining} of {len(ids)} sessions after {IDLE_TIMEOUT + 4} s idle (idle timeout {IDLE_TIMEOUT} s)",
          flush=True)
    if remaining:
        fail(f"{remaining} sessions were not reclaimed")

    alive = server.poll() is None
    hwm = rss_mib(server.pid, "VmHWM")
    server.terminate()
    server.wait(timeout=10)
    sampler.cancel()
    server_log.seek(0)
    log = server_log.read()
    if not alive:
        fail("the server died: " + log[-2000:])
    elif failures and log:
        print("server log:\n" + log[-2000:])
    print(f"server peak RSS (VmHWM) {hwm:.0f} MiB, limit {args.rss_limit_mib:.0f} MiB", flush=True)
    if hwm > args.rss_limit_mib:
        fail(f"peak RSS {hwm:.0f} MiB is above {args.rss_limit_mib:.0f} MiB")
    print("PASS" if not failures else f"FAILED: {len(failures)} problems", flush=True)
    sys.exit(1 if failures else 0)


asyncio.run(main())
