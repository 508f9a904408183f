"""What the fleet benchmarks (bench/sharding/fleet.py, bench/dispatch/fleet.py) share: where the
build is, free loopback ports, waiting for a condition, plain GETs, and one etcd to run herds on."""
import os, socket, subprocess, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.environ.get("BUILD", os.path.join(root, "build", "default"))
herd = os.path.join(build, "bin", "herd")


def port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(cond, timeout, step=0.05):
    """Polls cond (exceptions count as "not yet") until it holds or timeout seconds passed."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            if cond():
                return True
        except Exception:
            pass
        time.sleep(step)
    return False


def get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def start_etcd(work):
    """An etcd on free loopback ports with its data in work/etcd; returns (process, client URL)
    once it is healthy. The caller kills it."""
    cp, pp = port(), port()
    url = f"http://127.0.0.1:{cp}"
    etcd = subprocess.Popen(["/usr/bin/etcd", "--name", "fleet", "--data-dir", f"{work}/etcd",
                             "--listen-client-urls", url, "--advertise-client-urls", url,
                             "--listen-peer-urls", f"http://127.0.0.1:{pp}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pp}",
                             "--initial-cluster", f"fleet=http://127.0.0.1:{pp}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait(lambda: "true" in get(url + "/health", timeout=1), 20):
        etcd.kill()
        raise RuntimeError("etcd did not become healthy")
    return etcd, url
