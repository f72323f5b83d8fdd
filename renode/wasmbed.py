"""Robot Framework keywords for the Renode tests: the host side of a device.

The real gateway (bin/wasmbed-gateway, a fresh data directory, loopback ports), the
device's provisioned image (bin/wasmbed-provision), the modem bridge dialling Renode's
server socket terminal (bin/wasmbed-uart-bridge -connect), and the gateway's API
(https, its own CA, the admin token). Only the standard library: renode-test runs this
in its own Python.

    Library    ${CURDIR}/wasmbed.py    ${ROOT}    ${RESULTS}/wasmbed

Processes are started with Popen and stopped by their handle (Stop Bridges, Stop
Gateway); their logs stay in the work directory.
"""

import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

from robot.api import logger


class wasmbed:
    ROBOT_LIBRARY_SCOPE = "GLOBAL"

    def __init__(self, root, workdir):
        self.root = os.path.abspath(root)
        self.work = os.path.abspath(workdir)
        self.bin = os.path.join(self.root, "bin")
        self.gateway = None
        self.bridges = []
        self.api = None
        self.device_addr = None
        self.ctx = None
        self.token = None
        self.echoes = []

    # ---------------------------------------------------------------- helpers ----

    def _tool(self, name):
        path = os.path.join(self.bin, name)
        if not os.access(path, os.X_OK):
            raise AssertionError(f"{path} is missing: run make build (and make firmware, make apps)")
        return path

    def _start(self, name, args):
        log = open(os.path.join(self.work, name + ".log"), "ab")
        logger.info(f"starting {' '.join(args)} (log: {log.name})")
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _call(self, method, path, body=None, content_type="application/json"):
        data = None
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"gateway API {method} {path}: {e.code} {e.read().decode(errors='replace')}")
        return json.loads(raw) if raw else None

    @staticmethod
    def _until(what, timeout, fn, every=0.5):
        deadline = time.monotonic() + float(timeout)
        while True:
            got = fn()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(every)

    # --------------------------------------------------------------- keywords ----

    def free_port(self):
        """A free TCP port (for a server socket terminal, which Renode binds on all
        addresses, or the gateway's), drawn below Linux's ephemeral range (32768-60999):
        there the kernel could hand it to an outgoing connection before it is bound."""
        for _ in range(100):
            port = random.randint(10000, 31999)
            with socket.socket() as s:
                try:
                    s.bind(("", port))
                except OSError:
                    continue
                return port
        raise RuntimeError("no free port below 32000")

    def start_gateway(self, heartbeat="2s"):
        """Starts the gateway on a fresh data directory; returns its device address."""
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        data = os.path.join(self.work, "gateway")
        api_port, dev_port = self.free_port(), self.free_port()
        self.device_addr = f"127.0.0.1:{dev_port}"
        self.api = f"https://127.0.0.1:{api_port}"
        self.gateway = self._start("gateway", [
            self._tool("wasmbed-gateway"), "serve", "--data-dir", data,
            "--api-addr", f"127.0.0.1:{api_port}", "--device-addr", self.device_addr,
            "--heartbeat-interval", heartbeat])

        def healthy():
            if self.gateway.poll() is not None:
                raise AssertionError(f"the gateway exited ({self.gateway.returncode}); log: {self.work}/gateway.log")
            ca = os.path.join(data, "ca.crt")
            if not os.path.exists(ca):
                return False
            try:
                self.ctx = ssl.create_default_context(cafile=ca)
                with urllib.request.urlopen(self.api + "/healthz", context=self.ctx, timeout=2):
                    return True
            except (OSError, ssl.SSLError):
                return False
        self._until("the gateway's /healthz", 60, healthy, every=0.2)
        with open(os.path.join(data, "admin.token")) as f:
            self.token = f.read().strip()
        logger.info(f"gateway: API {self.api}, devices {self.device_addr}")
        return self.device_addr

    def stop_gateway(self):
        if self.gateway:
            self._stop(self.gateway)
            self.gateway = None

    @staticmethod
    def reset_macro(elf):
        """What Renode does after a machine reset for the image (firmware/emulator's
        resetMacro): a Cortex-M's vector table offset set to the image's vector table (it
        takes its stack and entry from there, in flash, which the reset keeps), a RISC-V
        core's program counter set to the image's entry."""
        with open(elf, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] != 1:
            raise AssertionError(f"{elf}: not a 32-bit ELF image")
        order = "little" if data[5] == 1 else "big"

        def u(off, n):
            return int.from_bytes(data[off:off + n], order)

        machine, entry = u(18, 2), u(24, 4)
        if machine == 243:  # EM_RISCV
            return f"sysbus.cpu PC {entry:#x}"
        shoff, shentsize, shnum, shstrndx = u(32, 4), u(46, 2), u(48, 2), u(50, 2)
        strtab = u(shoff + shstrndx * shentsize + 16, 4)
        for i in range(shnum):
            sh = shoff + i * shentsize
            name = data[strtab + u(sh, 4):].split(b"\0", 1)[0]
            if name == b".vector_table":
                return f"sysbus.cpu VectorTableOffset {u(sh + 12, 4):#x}"
        raise AssertionError(f"{elf}: no .vector_table section")

    def register_device(self, name, board):
        """Registers a device (label device=<name>) and returns a one-time enrollment token."""
        self._call("PUT", f"/v1/devices/{name}", {"board": board, "labels": {"device": name}})
        return self._call("POST", f"/v1/devices/{name}/tokens", {"ttl_seconds": 3600})["token"]

    def provision_image(self, board, name, token):
        """A copy of bin/firmware/<board>.elf with the device's bundle; returns its path."""
        image = os.path.join(self.bin, "firmware", board + ".elf")
        if not os.path.exists(image):
            raise AssertionError(f"{image} is missing: run make firmware")
        out = os.path.join(self.work, name + ".elf")
        subprocess.run([self._tool("wasmbed-provision"), "-in", image, "-out", out,
                        "-gateway", self.device_addr, "-server-name", "localhost",
                        "-ca", os.path.join(self.work, "gateway", "ca.crt"),
                        "-device", name, "-token", token, "-board", board],
                       check=True, capture_output=True)
        return out

    def provision_diag_image(self, board, name, diag, gateway):
        """A copy of bin/firmware/<board>-selftest.elf (the test image) whose bundle asks
        for a diagnostic mode (echo: the link to gateway, a TCP echo server) instead of
        the agent; returns its path."""
        image = os.path.join(self.bin, "firmware", board + "-selftest.elf")
        if not os.path.exists(image):
            raise AssertionError(f"{image} is missing: run make firmware-test")
        os.makedirs(self.work, exist_ok=True)
        out = os.path.join(self.work, name + ".elf")
        subprocess.run([self._tool("wasmbed-provision"), "-in", image, "-out", out, "-gateway", gateway,
                        "-device", name, "-diag", diag, "-board", board],
                       check=True, capture_output=True)
        return out

    def start_echo_server(self):
        """A TCP echo server on the loopback, in a thread of this process; returns its
        host:port (Stop Echo Servers closes it)."""
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        self.echoes.append(srv)

        def serve(conn):
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    conn.sendall(data)

        def accept():
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return  # closed
                threading.Thread(target=serve, args=(conn,), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()
        host, port = srv.getsockname()
        return f"{host}:{port}"

    def stop_echo_servers(self):
        for srv in self.echoes:
            srv.close()
        self.echoes = []

    def start_bridge(self, port, name="bridge", allow=None):
        """The modem bridge dialling Renode's server socket terminal on port; returns once
        it is connected. The device may open allow (default: the gateway's listener)."""
        os.makedirs(self.work, exist_ok=True)
        log = os.path.join(self.work, name + ".log")
        proc = self._start(name, [self._tool("wasmbed-uart-bridge"), "-connect", f"127.0.0.1:{port}",
                                  "-allow", allow or self.device_addr])
        self.bridges.append(proc)

        def connected():
            if proc.poll() is not None:
                raise AssertionError(f"the bridge exited ({proc.returncode}); log: {log}")
            with open(log) as f:
                return "link connected" in f.read()
        self._until(f"the bridge to connect to 127.0.0.1:{port}", 30, connected, every=0.1)

    def stop_bridges(self):
        for p in self.bridges:
            self._stop(p)
        self.bridges = []

    def device_should_be_online(self, name, timeout=30):
        """Waits until the gateway shows the device online with a certificate."""
        def online():
            d = self._call("GET", f"/v1/devices/{name}")
            st = d.get("status", {})
            return st.get("phase") == "online" and st.get("cert_serial")
        serial = self._until(f"{name} online at the gateway", timeout, online)
        logger.info(f"{name} online, certificate serial {serial}")

    def deploy_app(self, app, device, version="1.0.0", offset="100", memory=65536):
        """Uploads bin/apps/<app>.wasm and deploys it to the device (its label) as the
        application <app>-<device>; returns that name."""
        path = os.path.join(self.bin, "apps", app + ".wasm")
        if not os.path.exists(path):
            raise AssertionError(f"{path} is missing: run make apps")
        with open(path, "rb") as f:
            mod = self._call("POST", "/v1/modules", f.read(), "application/wasm")
        name = f"{app}-{device}"
        self._call("PUT", f"/v1/applications/{name}", {
            "version": version, "sha256": mod["sha256"], "config": {"offset": offset},
            "limits": {"memory": int(memory), "tick_ms": 200},
            "selector": {"labels": {"device": device}}})
        return name

    def app_should_run(self, app, device, calls=5, timeout=60):
        """Waits until the device's heartbeats report at least `calls` calls (init and
        ticks) of the app and no trap: for an app that publishes nothing (blinker, the one
        a board without room for a page of linear memory runs). Returns its metrics."""
        def called():
            m = self._call("GET", f"/v1/devices/{device}/metrics")
            for a in m.get("apps") or []:
                if a.get("app") != app:
                    continue
                if a.get("traps"):
                    raise AssertionError(f"{app} on {device} was stopped: {a}")
                return a if a.get("calls", 0) >= int(calls) else None
            return None
        a = self._until(f"{app} on {device} to be called {calls} times", timeout, called)
        logger.info(f"{device}: {app} metrics {a}")
        return a

    def output_should_arrive(self, app, device, key, timeout=60):
        """Waits for a value the device's app published under key; returns it."""
        def value():
            out = self._call("GET", f"/v1/applications/{app}/output?device={device}&limit=50")
            vals = [r["value"] for r in out.get("output", []) if r.get("key") == key and r.get("value") is not None]
            return vals[-1] if vals else None
        v = self._until(f"{app} on {device} to publish {key}", timeout, value)
        logger.info(f"{device}: {app} published {key}={v}")
        return v
