#!/usr/bin/env python3
"""herd as a cluster agent at scale: 3 leader candidates on one etcd, 10 000 checks, 100 simulated
node agents (threads speaking the Datadog node API exactly: POST status, GET configs when not up to
date), all on this machine.

Measures: the time from the nodes' first status to a full assignment (every check on exactly one
node, counts within one); the time until a stopped node's checks run elsewhere; the leader
failover time (SIGKILL → a new leader answers) and the checks it moved (zero expected); the
leader's CPU per node poll in a steady window.

    bench/dispatch/fleet.py [checks (10000)] [nodes (100)]
    LEASE=3s NODE_EXPIRATION=3s POLL=1s bench/dispatch/fleet.py
"""
import functools, http.client, json, os, re, signal, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fleetlib  # noqa: E402
from fleetlib import herd, port, start_etcd  # noqa: E402

wait = functools.partial(fleetlib.wait, step=0.02)  # node agents poll fast

n_checks = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
n_nodes = int(sys.argv[2]) if len(sys.argv) > 2 else 100
lease = os.environ.get("LEASE", "3s")
expiration = os.environ.get("NODE_EXPIRATION", "3s")
poll_str = os.environ.get("POLL", "1s")
poll = float(poll_str[:-2]) / 1000 if poll_str.endswith("ms") else float(poll_str.rstrip("s"))
token = "bench-token"
auth = {"Authorization": "Bearer " + token}


def request(port, method, path, body=None, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers={**auth, "Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def metric(port, series):
    try:
        _, body = request(port, "GET", "/metrics", timeout=1)
    except Exception:
        return None
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Node(threading.Thread):
    """A datadog-agent's cluster-check provider: every poll, POST status; GET configs if told."""

    def __init__(self, name, ports):
        super().__init__(daemon=True)
        self.name, self.ports, self.server = name, ports, 0
        self.last_change, self.checks, self.polls, self.stop = 0, set(), 0, threading.Event()
        self.conn = None

    def call(self, method, path, body=None):
        for _ in range(len(self.ports)):
            p = self.ports[self.server % len(self.ports)]
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", p, timeout=3)
                self.conn.request(method, path, body=body, headers={**auth, "X-Real-Ip": "127.0.0.1", "Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
                if r.status == 200:
                    return data
            except Exception:
                pass
            if self.conn:
                self.conn.close()
            self.conn = None
            self.server += 1  # the next server
        return None

    def run(self):
        while not self.stop.is_set():
            self.polls += 1
            st = self.call("POST", f"/api/v1/clusterchecks/status/{self.name}", json.dumps({"last_change": self.last_change, "node_type": 2}))
            if st is not None and not json.loads(st)["isuptodate"]:
                cf = self.call("GET", f"/api/v1/clusterchecks/configs/{self.name}")
                if cf is not None:
                    j = json.loads(cf)
                    self.checks = {c["source"][5:] for c in (j["configs"] or [])}
                    self.last_change = j["last_change"]
                    continue  # report the new version at once, as herd's own nodes do
            self.stop.wait(poll)


work = tempfile.mkdtemp(prefix="herd-dispatch-fleet-")
procs, nodes, etcd = {}, [], None
try:
    etcd, url = start_etcd(work)
    ports = {}
    for i in range(3):
        name = f"L{i + 1}"
        ports[name] = port()
        d = f"{work}/{name}"
        os.makedirs(d)
        with open(f"{d}/herd.toml", "w") as f:
            f.write(f'[host]\nadmin = "127.0.0.1:{ports[name]}"\ndata_dir = "{d}/data"\n\n'
                    f'[[kv]]\nname = "etcd"\nplugin = "kv_etcd"\nendpoints = ["{url}"]\n\n'
                    f'[[dispatch]]\nname = "checks"\nrole = "leader"\nnode_id = "{name}"\ntoken = "{token}"\n'
                    f'lease = "{lease}"\nnode_expiration = "{expiration}"\npoll_interval = "{poll_str}"\nrebalance_period = "1h"\n')
        procs[name] = subprocess.Popen([herd, "run", "-c", f"{d}/herd.toml"], stdout=subprocess.DEVNULL,
                                       stderr=open(f"{d}/herd.log", "w"))
    assert wait(lambda: all(request(p, "GET", "/-/ready")[0] == 200 for p in ports.values()), 30), "not ready"

    def leader():
        for n, p in ports.items():
            if procs[n].poll() is None and metric(p, 'herd_dispatch_leader{pipeline="checks"}') == 1.0:
                return n
        return None
    if not wait(lambda: leader() is not None, 30):
        sys.exit("no leader; L1 said:\n" + open(f"{work}/L1/herd.log").read()[-3000:])
    t0 = time.time()
    # The checks, through the API, in parallel over the candidates.
    def put(range_):
        conns = {n: http.client.HTTPConnection("127.0.0.1", p, timeout=10) for n, p in ports.items()}
        names = list(ports)
        for i in range_:
            c = conns[names[i % 3]]
            body = json.dumps({"check_name": "http_check", "init_config": {}, "instances": [{"url": f"http://svc-{i}:8080/health"}]})
            c.request("PUT", f"/api/v1/dispatch/checks/checks/c{i}", body=body, headers=auth)
            r = c.getresponse()
            body = r.read()
            assert r.status in (200, 201), (r.status, body)
    writers = [threading.Thread(target=put, args=(range(k, n_checks, 8),)) for k in range(8)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    put_s = time.time() - t0
    lp = ports[leader()]
    assert wait(lambda: json.loads(request(lp, "GET", "/api/v1/dispatch/checks/state")[1])["checks"] == n_checks, 60)
    print(f"dispatch fleet: {n_checks} checks, {n_nodes} simulated node agents, 3 candidates on etcd "
          f"(lease {lease}, node_expiration {expiration}, poll {poll}s)")
    print(f"  checks put through the API: {put_s:.1f} s ({n_checks / put_s:.0f}/s)")

    port_list = list(ports.values())
    nodes = [Node(f"node-{i:03d}", port_list[i % 3:] + port_list[:i % 3]) for i in range(n_nodes)]

    def assigned(live):
        allc = [c for n in live for c in n.checks]
        counts = [len(n.checks) for n in live]
        return len(allc) == n_checks and len(set(allc)) == n_checks and max(counts) - min(counts) <= 1
    t0 = time.time()
    for n in nodes:
        n.start()
    assert wait(lambda: assigned(nodes), 120), "no full assignment"
    full_s = time.time() - t0
    print(f"  full assignment: {full_s:.2f} s from the nodes' first status (herd waits one poll on a fresh cluster; "
          f"Datadog's warmup alone is 30 s)")

    # A node stops.
    dead = nodes[0]
    orphans = set(dead.checks)
    dead.stop.set()
    t0 = time.time()
    live = nodes[1:]
    lp = ports[leader()]
    def placed_elsewhere():
        ts = time.time()
        st = json.loads(request(lp, "GET", "/api/v1/dispatch/checks/state")[1])
        if os.environ.get("DEBUG"):
            d = [n for n in st["nodes"] if n["name"] == dead.name]
            print(f"    state in {time.time() - ts:.3f} s; {dead.name}: {d[0]['heartbeat_age_ms'] if d else 'gone'}; dangling {len(st['dangling'])}")
        return not st["dangling"] and all(st["assignments"].get(c, dead.name) != dead.name for c in orphans)
    assert wait(placed_elsewhere, 120, step=0.05), "orphans not re-dispatched"
    expired_s = time.time() - t0
    assert wait(lambda: orphans <= set(c for n in live for c in n.checks) and assigned(live), 120, step=0.2), "orphans not running"
    redispatch_s = time.time() - t0
    print(f"  a dead node's {len(orphans)} checks: placed elsewhere after {expired_s:.2f} s (node_expiration {expiration} + tick), "
          f"running there after {redispatch_s:.2f} s (Datadog: 30-45 s + a 10 s poll with its defaults)")

    # The leader's CPU per poll, steady.
    lname = leader()
    lpid = procs[lname].pid
    polls0, cpu0, t0 = sum(n.polls for n in live), cpu_seconds(lpid), time.time()
    if os.environ.get("PERF"):
        subprocess.run(["perf", "record", "-g", "-o", "/tmp/dispatch.perf", "-p", str(lpid), "--", "sleep", "8"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
    else:
        time.sleep(10)
    polls, cpu, dt = sum(n.polls for n in live) - polls0, cpu_seconds(lpid) - cpu0, time.time() - t0
    print(f"  leader CPU: {cpu * 1e6 / polls:.0f} µs per node poll ({polls / dt:.0f} polls/s, "
          f"{cpu / dt * 100:.1f} % of a core); two thirds of the polls came through a follower")

    if os.environ.get("DEBUG"):
        _, m = request(ports[lname], "GET", "/metrics")
        print("\n".join(l for l in m.splitlines() if l.startswith("herd_dispatch")))
    # Leader failover.
    before = json.loads(request(ports[lname], "GET", "/api/v1/dispatch/checks/state")[1])["assignments"]
    procs[lname].send_signal(signal.SIGKILL)
    procs[lname].wait()
    t0 = time.time()
    assert wait(lambda: leader() not in (None, lname), 60), "no new leader"
    failover_s = time.time() - t0
    nl = leader()
    after = json.loads(request(ports[nl], "GET", "/api/v1/dispatch/checks/state")[1])["assignments"]
    moved = sum(1 for k in before if after.get(k) != before[k])
    print(f"  leader failover: {failover_s:.2f} s to a new leader (lease {lease}); checks moved by the takeover: {moved} "
          f"(Datadog: lease up to 60 s + warmup 30 s, then dispatch rebuilt)")
finally:
    for n in nodes:
        n.stop.set()
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(10)
        except Exception:
            p.kill()
    if etcd:
        etcd.terminate()
        etcd.wait()
    subprocess.run(["rm", "-rf", work])
