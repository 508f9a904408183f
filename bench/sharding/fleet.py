#!/usr/bin/env python3
"""100 herd processes sharding 1000 configs over one etcd on this machine.

Measures: the time until a SIGKILLed member's configs are owned elsewhere; the time until a
joining member's share has converged (every config in exactly one member's sink); the store
requests per member per second when idle (from etcd's own grpc_server_handled_total); RSS per
herd. Each herd runs sink_files (one directory per member); heartbeat 1 s, heartbeat_timeout 3 s
(HEARTBEAT, HEARTBEAT_TIMEOUT to change them).

    bench/sharding/fleet.py [herds (100)] [configs (1000)]
"""
import glob, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fleetlib import get, herd, port, start_etcd, wait  # noqa: E402

n_herds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
n_configs = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
heartbeat = os.environ.get("HEARTBEAT", "1s")
heartbeat_timeout = os.environ.get("HEARTBEAT_TIMEOUT", "3s")


work = tempfile.mkdtemp(prefix="herd-fleet-")
procs = {}
etcd = None
try:
    etcd, url = start_etcd(work)

    admin = {}

    def start(i):
        d = f"{work}/h{i}"
        os.makedirs(d, exist_ok=True)
        admin[i] = port()
        with open(f"{d}/herd.toml", "w") as f:
            f.write(f'''[host]
admin = "127.0.0.1:{admin[i]}"
data_dir = "{d}/data"
log_level = "warn"

[[kv]]
name = "fleet"
plugin = "kv_etcd"
endpoints = ["{url}"]

[[sink]]
name = "out"
plugin = "sink_files"
dir = "{d}/out"

[[sharding]]
name = "scrape"
sink = "out"
member_id = "herd-{i}"
heartbeat = "{heartbeat}"
heartbeat_timeout = "{heartbeat_timeout}"
''')
        procs[i] = subprocess.Popen([herd, "--no-isolation", "run", "-c", f"{d}/herd.toml"],
                                    stdout=subprocess.DEVNULL, stderr=open(f"{d}/herd.log", "w"))

    t0 = time.time()
    for i in range(n_herds):
        start(i)
    assert wait(lambda: all(get(f"http://127.0.0.1:{admin[i]}/-/ready") for i in range(n_herds)), 120), "not ready"
    print(f"{n_herds} herds ready in {time.time() - t0:.1f} s")

    def members_seen(i):
        m = re.search(r'herd_sharding_members\{pipeline="scrape"\} (\S+)', get(f"http://127.0.0.1:{admin[i]}/metrics"))
        return float(m.group(1)) if m else 0

    if not wait(lambda: all(members_seen(i) == n_herds for i in (0, n_herds // 2, n_herds - 1)), 60):
        print("members seen:", [members_seen(i) for i in (0, n_herds // 2, n_herds - 1)])
        print(open(f"{work}/h0/herd.log").read()[-3000:])
        raise SystemExit(1)
    print("all members see each other", flush=True)
    t_put = time.time()
    def put(c):
        body = f"scrape_configs:\n  - job_name: job-{c}\n    static_configs: [{{targets: ['127.0.0.1:1']}}]\n"
        req = urllib.request.Request(f"http://127.0.0.1:{admin[c % n_herds]}/agent/api/v1/config/cfg-{c}",
                                     data=body.encode(), method="PUT")
        urllib.request.urlopen(req, timeout=60).read()

    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # 8 clients at once, to different members
        list(pool.map(put, range(n_configs)))

    print(f"{n_configs} PUTs in {time.time() - t_put:.1f} s", flush=True)

    def placement(live):
        seen = {}
        for i in live:
            for f in glob.glob(f"{work}/h{i}/out/*.yml"):
                seen.setdefault(os.path.basename(f), []).append(i)
        return seen

    def converged(live):
        p = placement(live)
        return len(p) == n_configs and all(len(v) == 1 for v in p.values())

    live = set(range(n_herds))
    t = time.time()
    assert wait(lambda: converged(live), 60), "no convergence"
    print(f"{n_configs} configs placed, each on exactly one member, {time.time() - t:.2f} s after the last PUT")

    # Idle: what the fleet asks of the store.
    def handled():
        total = 0.0
        for line in get(url + "/metrics").splitlines():
            if line.startswith("grpc_server_handled_total"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def started_streams():
        total = 0.0
        for line in get(url + "/metrics").splitlines():
            if line.startswith("grpc_server_msg_received_total"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    h0, s0 = handled(), started_streams()
    time.sleep(10)  # a measurement window, not a synchronisation
    h1, s1 = handled(), started_streams()
    print(f"idle: {(h1 - h0) / 10 / n_herds:.2f} finished store requests and {(s1 - s0) / 10 / n_herds:.2f} "
          f"messages received per member per second (heartbeat {heartbeat})")

    rss = []
    for i in live:
        with open(f"/proc/{procs[i].pid}/status") as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
            rss.append(int(m.group(1)) / 1024)
    print(f"RSS per herd: mean {sum(rss) / len(rss):.1f} MiB, max {max(rss):.1f} MiB")

    # SIGKILL the member that owns the most.
    p = placement(live)
    counts = {}
    for name, owners in p.items():
        counts[owners[0]] = counts.get(owners[0], 0) + 1
    victim = max(counts, key=counts.get)
    lost = {name for name, owners in p.items() if owners == [victim]}
    procs[victim].send_signal(signal.SIGKILL)
    procs[victim].wait()
    live.discard(victim)
    t = time.time()

    def reowned():
        q = placement(live)
        return all(name in q for name in lost)

    assert wait(reowned, 60), "not re-owned"
    print(f"SIGKILL of herd-{victim} ({len(lost)} configs): all owned elsewhere after {time.time() - t:.2f} s "
          f"(heartbeat_timeout {heartbeat_timeout})")
    assert wait(lambda: converged(live), 60)

    # A join.
    newcomer = n_herds
    t = time.time()
    start(newcomer)
    live.add(newcomer)
    assert wait(lambda: converged(live) and len(glob.glob(f"{work}/h{newcomer}/out/*.yml")) > 0, 120), "join did not converge"
    print(f"join of herd-{newcomer}: converged (every config on exactly one member) {time.time() - t:.2f} s after it "
          f"started, {len(glob.glob(f'{work}/h{newcomer}/out/*.yml'))} configs moved to it")
finally:
    for pr in procs.values():
        if pr.poll() is None:
            pr.send_signal(signal.SIGKILL)
    for pr in procs.values():
        try:
            pr.wait(timeout=10)
        except Exception:
            pass
    if etcd:
        etcd.kill()
        etcd.wait()
    shutil.rmtree(work, ignore_errors=True)
