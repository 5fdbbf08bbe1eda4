"""Real etcd members for the cluster tests (Debian's etcd-server 3.4), on loopback ports with their
data in the test's directory; a TCP relay a test can cut to make etcd unreachable from one
switchboard while the others still reach it; and relays on the members' peer traffic that can cut
one member off from the others (a network partition) while its clients still reach it."""

from __future__ import annotations

import base64
import http.client
import json
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

from harness import Abort, free_port, wait_until

# Short raft timings so a three-member cluster elects in well under a second, even on a loaded
# 2-core machine (etcd's defaults are 100 ms / 1000 ms). Leases then count down from 1 s at least.
HEARTBEAT_MS = 50
ELECTION_MS = 500


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def etcd_binary() -> str:
    path = shutil.which("etcd")
    if not path:
        raise AssertionError("etcd not installed: scripts/install-deps.sh installs etcd-server")
    return path


class EtcdCluster:
    """`members` etcd processes forming one cluster. Members keep their data directory across
    kill()/start(), as a restarted server would."""

    def __init__(self, workdir: Path, members=1, peer_relays=False):
        """`peer_relays`: the members reach each other through PeerRelays, so isolate() can
        partition one off."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token = "sb-test-" + uuid.uuid4().hex[:8]
        self.names = [f"m{i}" for i in range(members)]
        self.procs = [None] * members
        self.logs = [self.workdir / f"{name}.log" for name in self.names]
        self.peer_relays = []
        self.isolated = set()  # member indexes cut off by isolate()
        self.member_ids = []  # hex, as etcd's peers name each other (X-Server-From)
        for attempt in range(3):  # a port taken between free_port() and etcd's bind: new ports
            self.client_ports = [free_port() for _ in self.names]
            self.peer_ports = [free_port() for _ in self.names]
            if peer_relays:
                self.peer_relays = [PeerRelay(port, self, i) for i, port in enumerate(self.peer_ports)]
            for i in range(members):
                self.start(i)
            try:
                self.wait_healthy()
                if peer_relays:
                    self._learn_member_ids()
                return
            except AssertionError:
                self.stop()
                if attempt == 2:
                    raise
                for name in self.names:
                    shutil.rmtree(self.workdir / name, ignore_errors=True)

    # -- processes

    def advertised_peer_ports(self):
        return [r.port for r in self.peer_relays] if self.peer_relays else self.peer_ports

    def argv(self, i):
        advertised = self.advertised_peer_ports()
        peers = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, advertised))
        client = f"http://127.0.0.1:{self.client_ports[i]}"
        peer = f"http://127.0.0.1:{self.peer_ports[i]}"
        return [etcd_binary(), "--name", self.names[i], "--data-dir", str(self.workdir / self.names[i]),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{advertised[i]}",
                "--initial-cluster", peers, "--initial-cluster-state", "new",
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS),
                "--logger", "zap", "--log-level", "warn"]

    def start(self, i):
        log = open(self.logs[i], "ab")
        self.procs[i] = subprocess.Popen(self.argv(i), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def kill(self, i, sig=signal.SIGKILL):
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(10)
        self.procs[i] = None

    def stop(self):
        self._stop_members()
        for relay in self.peer_relays:
            relay.stop()

    def _stop_members(self):
        for i in range(len(self.names)):
            self.kill(i, signal.SIGTERM)

    def replace(self):
        """Every member stopped and started afresh on the same ports with empty data and a new
        token, so a new cluster id: etcd rebuilt, or another cluster put where this one was."""
        self._stop_members()
        for name in self.names:
            shutil.rmtree(self.workdir / name, ignore_errors=True)
        self.token = "sb-test-" + uuid.uuid4().hex[:8]
        for i in range(len(self.names)):
            self.start(i)
        return self.wait_healthy()

    def cluster_id(self):
        return self.call("/v3/kv/range", {"key": b64("health-check")})["header"]["cluster_id"]

    def alive(self, i):
        return self.procs[i] is not None and self.procs[i].poll() is None

    # -- partitions (peer_relays=True)

    def _learn_member_ids(self):
        ports = {port: i for i, port in enumerate(self.advertised_peer_ports())}
        ids = [None] * len(self.names)
        for member in self.call("/v3/cluster/member/list", {})["members"]:
            port = int(member["peerURLs"][0].rsplit(":", 1)[1])
            ids[ports[port]] = format(int(member["ID"]), "x")
        self.member_ids = ids

    def isolate(self, i):
        """Cuts member i off from the others (both directions, existing connections too); its
        clients still reach it. It loses its leader after an election timeout; the others keep
        their quorum."""
        self.isolated = {i}
        for relay in self.peer_relays:
            relay.enforce()

    def heal(self):
        self.isolated = set()

    def peer_allowed(self, sender_id, target):
        """May the member whose X-Server-From is `sender_id` (None: unknown) reach `target`?"""
        if target in self.isolated:
            return False
        return not any(self.member_ids and self.member_ids[i] == sender_id for i in self.isolated)

    # -- addresses

    def address(self, i):
        return f"127.0.0.1:{self.client_ports[i]}"

    def url(self, order=None):
        """The --registry value: every member, in `order` (indexes) if given."""
        order = range(len(self.names)) if order is None else order
        return "etcd://" + ",".join(self.address(i) for i in order)

    # -- the v3 JSON gateway

    def call(self, path, body, member=None, timeout=5.0):
        """POST to the first live member (or `member`); the parsed answer. Raises on non-200."""
        members = [member] if member is not None else [i for i in range(len(self.names)) if self.alive(i)]
        last = None
        for i in members:
            conn = http.client.HTTPConnection("127.0.0.1", self.client_ports[i], timeout=timeout)
            try:
                conn.request("POST", path, json.dumps(body))
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 200:
                    return json.loads(data)
                last = AssertionError(f"etcd {path}: {resp.status} {data[:200]!r}")
            except OSError as exc:
                last = exc
            finally:
                conn.close()
        raise last or AssertionError("no etcd member alive")

    def revision(self):
        return int(self.call("/v3/kv/range", {"key": b64("health-check")})["header"]["revision"])

    def compact(self):
        """Compacts the history up to the current revision: a watch from before it is canceled."""
        revision = self.revision()
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def get(self, key):
        """The key's kv as the gateway gives it (value base64-decoded), or None."""
        kvs = self.call("/v3/kv/range", {"key": b64(key)}).get("kvs", [])
        if not kvs:
            return None
        kv = dict(kvs[0])
        kv["value"] = base64.b64decode(kv.get("value", "")).decode()
        return kv

    def put(self, key, value):
        return int(self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})["header"]["revision"])

    def keys(self, prefix="/switchboard/"):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        answer = self.call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end), "keys_only": True})
        return sorted(base64.b64decode(kv["key"]).decode() for kv in answer.get("kvs", []))

    def leader(self):
        """The index of the member that leads now."""
        for i in range(len(self.names)):
            if not self.alive(i):
                continue
            try:
                status = self.call("/v3/maintenance/status", {}, member=i, timeout=2)
            except (OSError, AssertionError):
                continue
            if status.get("leader") and status["leader"] == status["header"]["member_id"]:
                return i
        return None

    def wait_healthy(self, timeout=15.0):
        def healthy():
            for i, proc in enumerate(self.procs):
                if proc is not None and proc.poll() is not None:
                    raise Abort(f"etcd {self.names[i]} exited with {proc.returncode}:\n"
                                + self.logs[i].read_text(errors="replace")[-2000:])
            # A linearizable read answers only with a leader and a quorum.
            self.call("/v3/kv/range", {"key": b64("health-check")}, timeout=1)
            return True

        wait_until(healthy, timeout, interval=0.05, message="etcd answering with a leader")
        return self


class TcpRelay:
    """Forwards connections from a loopback port to `target_port`. cut() closes every connection
    through it and closes new ones as they come (etcd unreachable on this path); restore() lets
    them through again."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.pairs = set()
        self.is_cut = False
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if self.stopping or self.is_cut:
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self.lock:
                self.pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        client, upstream = pair
        peers = {client: upstream, upstream: client}
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 0.5)
                with self.lock:
                    if pair not in self.pairs:
                        return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            self._close(pair)

    def _close(self, pair):
        with self.lock:
            self.pairs.discard(pair)
        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def cut(self):
        with self.lock:
            self.is_cut = True
            pairs = list(self.pairs)
        for pair in pairs:
            self._close(pair)

    def restore(self):
        with self.lock:
            self.is_cut = False

    def stop(self):
        with self.lock:
            self.stopping = True
        self.cut()
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress
        except OSError:
            pass
        self.lsock.close()
        self.thread.join(5)


class PeerRelay(TcpRelay):
    """The relay in front of one member's peer port (the member advertises the relay). etcd's raft
    traffic between two members runs over connections each opens to the other, and every request
    on them names its sender in X-Server-From; the relay reads the first request head of each
    connection to learn the sender and refuses, or cuts, what the cluster's partition forbids."""

    def __init__(self, target_port, cluster, index):
        self.cluster = cluster
        self.index = index
        self.senders = {}  # pair -> sender id (None: no X-Server-From, e.g. a health probe)
        super().__init__(target_port)

    def _accept(self):
        while True:
            try:
                client, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._admit, args=(client,), daemon=True).start()

    def _admit(self, client):
        head = b""
        try:
            client.settimeout(5)
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = client.recv(65536)
                if not data:
                    break
                head += data
            client.settimeout(None)
        except OSError:
            client.close()
            return
        found = re.search(rb"(?im)^x-server-from:[ \t]*([0-9a-f]+)", head)
        sender = found.group(1).decode() if found else None
        with self.lock:
            refused = self.stopping or not self.cluster.peer_allowed(sender, self.index)
        if refused:
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            upstream.settimeout(None)
            upstream.sendall(head)
        except OSError:
            client.close()
            return
        pair = (client, upstream)
        with self.lock:
            self.pairs.add(pair)
            self.senders[pair] = sender
        threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _close(self, pair):
        with self.lock:
            self.senders.pop(pair, None)
        super()._close(pair)

    def enforce(self):
        """Cuts the connections the partition now forbids."""
        with self.lock:
            doomed = [pair for pair, sender in self.senders.items()
                      if not self.cluster.peer_allowed(sender, self.index)]
        for pair in doomed:
            self._close(pair)


def wait_for(predicate, timeout=5.0, message=None):
    """wait_until with a shorter poll interval: propagation is measured in milliseconds."""
    return wait_until(predicate, timeout, interval=0.005, message=message)


def elapsed_ms(since):
    return (time.monotonic() - since) * 1000
