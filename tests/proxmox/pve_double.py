#!/usr/bin/python3
"""A test double of the Proxmox VE API (/api2/json), held to the real API's schema.

Every request is checked against pve-api-schema.json (the API viewer's data, copied from
shared/proxmox): the path and method must exist, every parameter must be declared, of the
declared type, inside its enum/pattern/range, property strings (ipconfig0, memory, ...) may
only use their declared keys, and required parameters must be present. A request that breaks
the contract is answered 400 the way Proxmox answers it and recorded as a violation, so a
test can assert there were none. Every answer is checked against the endpoint's `returns`
schema too, so the double cannot drift from the contract either.

The state is one node with VMs; clone, config, resize, start, stop and destroy are
asynchronous tasks that take time and finish with "OK" or an error, like the real thing.
A clone holds the lock of the VM it copies, so a second clone of the same template waits
and then fails with Proxmox's lock timeout. Faults are injected through POST /_double/faults.

Control endpoints (no auth, outside /api2/json):
  GET  /_double/state    the VMs
  GET  /_double/log      every API request (with the status answered) and every contract violation
  GET  /_double/tasks    every task with its start and end times
  POST /_double/faults   {"clone_lock_timeout": n, "nextid_race": n, "clone_task_error": n,
                          "http_500": [{"method": "POST", "path": "regex", "count": n}]}
  POST /_double/vm       {"vmid": n, "status": "stopped"} change a VM behind the client's back

Usage: pve_double.py --schema F --cert F --key F --token-id ID --token-secret S
                     [--ssh-port N] [--task-seconds S] [--lock-wait S]
Prints {"port": N} on stdout once it listens on 127.0.0.1.
"""

import argparse
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NODE = "pve"
TRUE_WORDS = {"1", "true", "yes", "on"}
BOOL_WORDS = TRUE_WORDS | {"0", "false", "no", "off"}


# --- the schema ------------------------------------------------------------------------


class Schema:
    def __init__(self, path):
        with open(path) as f:
            tree = json.load(f)
        self.routes = []  # (regex, template path, node info)
        stack = list(tree)
        while stack:
            node = stack.pop()
            pattern = re.sub(r"\\\{([a-z0-9_-]+)\\\}", r"(?P<\1>[^/]+)", re.escape(node["path"]))
            self.routes.append((re.compile("^" + pattern + "$"), node["path"], node.get("info", {})))
            stack.extend(node.get("children", []))

    def find(self, path):
        for regex, template, info in self.routes:
            m = regex.match(path)
            if m:
                return template, info, {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        return None, None, None


def declared(props, name):
    """The schema of parameter `name`: exact, or an indexed one such as ipconfig[n]."""
    if name in props:
        return props[name]
    m = re.match(r"^([a-z]+)(\d+)$", name)
    if m and (m.group(1) + "[n]") in props:
        return props[m.group(1) + "[n]"]
    return None


def check_value(name, value, spec):
    """None when `value` (a string off the wire) fits `spec`, else Proxmox's complaint."""
    kind = spec.get("type", "string")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?\d+", value):
            return "type check ('integer') failed - got '%s'" % value
        n = int(value)
        if "minimum" in spec and n < int(spec["minimum"]):
            return "value must have a minimum value of %s" % spec["minimum"]
        if "maximum" in spec and n > int(spec["maximum"]):
            return "value must have a maximum value of %s" % spec["maximum"]
    elif kind == "number":
        try:
            float(value)
        except ValueError:
            return "type check ('number') failed - got '%s'" % value
    elif kind == "boolean":
        if value.lower() not in BOOL_WORDS:
            return "type check ('boolean') failed - got '%s'" % value
    elif kind == "string":
        if "enum" in spec and value not in spec["enum"]:
            return "value '%s' does not have a value in the enumeration '%s'" % (value, ", ".join(spec["enum"]))
        if "maxLength" in spec and len(value) > int(spec["maxLength"]):
            return "value may only be %s characters long" % spec["maxLength"]
        if "pattern" in spec and not re.fullmatch(spec["pattern"], value):
            return "value does not match the regex pattern"
        fmt = spec.get("format")
        if isinstance(fmt, dict):
            return check_property_string(value, fmt)
        if isinstance(fmt, str):
            return check_format(fmt, value)
    return None


def check_property_string(value, fmt):
    """A property string such as `ip=10.0.0.5/24,gw=10.0.0.1`: only declared keys, typed."""
    default_key = next((k for k, v in fmt.items() if v.get("default_key")), None)
    for part in value.split(","):
        if "=" in part:
            key, _, sub = part.partition("=")
        elif default_key:
            key, sub = default_key, part
        else:
            return "invalid format - missing key in comma-separated list property"
        spec = fmt.get(key)
        if spec is None:
            alias = next((k for k, v in fmt.items() if v.get("alias") == key), None)
            spec = fmt.get(alias) if alias else None
        if spec is None:
            return "invalid format - property '%s' is not defined in the format" % key
        err = check_value(key, sub, spec)
        if err:
            return "invalid format - %s: %s" % (key, err)
    return None


IPV4 = r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})"


def check_format(fmt, value):
    """The named formats a VM provisioning flow touches, checked as Proxmox does."""
    if fmt == "pve-vmid" and not re.fullmatch(r"\d+", value):
        return "invalid format - value does not look like a valid VM ID"
    if fmt == "urlencoded" and not re.fullmatch(r"[-%a-zA-Z0-9_.!~*'()]*", value):
        return "invalid urlencoded string: %s" % value
    if fmt in ("pve-node", "dns-name") and not re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?", value):
        return "invalid format - value does not look like a valid %s" % fmt
    if fmt == "pve-storage-id" and not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", value):
        return "invalid format - storage ID '%s' contains illegal characters" % value
    if fmt == "pve-tag-list":
        for tag in re.split(r"[;, ]+", value):
            if tag and not re.fullmatch(r"[a-z0-9_][a-z0-9_\-+.]*", tag, re.I):
                return "invalid format - invalid tag '%s'" % tag
    if fmt == "address-list":
        for a in re.split(r"[ ,;]+", value.strip()):
            if not (re.fullmatch(IPV4, a) or ":" in a):
                return "invalid format - value '%s' does not look like a valid address" % a
    if fmt == "pve-configid-list":
        for k in re.split(r"[ ,;]+", value):
            if k and not re.fullmatch(r"[a-z][a-z_\-0-9]*", k):
                return "invalid format - invalid configuration ID '%s'" % k
    return None


def check_returns(value, spec, where="data"):
    """Problems with an answer body against the endpoint's `returns` schema."""
    if value is None:
        return [] if spec.get("optional") or spec.get("type") in (None, "null") else ["%s is null" % where]
    kind = spec.get("type")
    ok = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": value in (0, 1) or isinstance(value, bool),
        "null": value is None,
    }.get(kind, True)
    if not ok:
        return ["%s is not %s" % (where, kind)]
    problems = []
    if kind == "string" and "enum" in spec and value not in spec["enum"]:
        problems.append("%s=%r is not in %s" % (where, value, spec["enum"]))
    if kind == "object":
        props = spec.get("properties", {})
        for name, sub in props.items():
            if not sub.get("optional") and name not in value and "[n]" not in name:
                problems.append("%s.%s is missing" % (where, name))
        for name, v in value.items():
            sub = declared(props, name)
            if sub is not None:
                problems += check_returns(v, sub, "%s.%s" % (where, name))
    if kind == "array" and "items" in spec:
        for i, v in enumerate(value):
            problems += check_returns(v, spec["items"], "%s[%d]" % (where, i))
    return problems


# --- the cluster ------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status, message, errors=None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


class Cluster:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.vms = {}
        self.tasks = {}
        self.config_locks = {}  # vmid -> upid of the task holding the VM's config lock
        self.listeners = {}  # vmid -> socket answering like sshd once the VM "booted"
        self.faults = {"clone_lock_timeout": 0, "nextid_race": 0, "clone_task_error": 0, "http_500": []}
        self.log = []
        self.violations = []
        self.task_counter = 0x1E240
        self.mac = 0x10
        self.add_vm(9000, "debian12-cloudinit", template=True, config={
            "boot": "order=scsi0", "cores": 1, "memory": "1024", "ostype": "l26", "scsihw": "virtio-scsi-pci",
            "scsi0": "local-lvm:base-9000-disk-0,size=4G", "ide2": "local-lvm:vm-9000-cloudinit,media=cdrom",
            "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0", "serial0": "socket", "vga": "serial0",
        })
        self.add_vm(100, "backup-server", config={
            "cores": 2, "memory": "4096", "scsi0": "local-lvm:vm-100-disk-0,size=32G",
            "net0": "virtio=BC:24:11:00:00:02,bridge=vmbr0",
        })
        self.vms[100]["status"] = "running"

    def add_vm(self, vmid, name, template=False, config=None):
        config = dict(config or {})
        config["name"] = name
        if template:
            config["template"] = 1
        self.vms[vmid] = {"vmid": vmid, "name": name, "status": "stopped", "template": template, "config": config}

    def vm(self, vmid):
        vm = self.vms.get(int(vmid))
        if vm is None:
            raise ApiError(500, "Configuration file 'nodes/%s/qemu-server/%s.conf' does not exist" % (NODE, vmid))
        return vm

    # Tasks: a UPID, a duration, and what happens when it ends.
    def task(self, kind, vmid, work, fail=None, seconds=None):
        self.task_counter += 1
        upid = "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (
            NODE, 0x4000 + self.task_counter, self.task_counter, int(time.time()), kind, vmid, self.args.token_id)
        info = {"upid": upid, "type": kind, "id": str(vmid), "status": "running", "starttime": int(time.time()),
                "started": time.time(),
                "pid": 0x4000 + self.task_counter, "pstart": self.task_counter, "node": NODE,
                "user": self.args.token_id.split("!")[0]}
        self.tasks[upid] = info
        duration = self.args.task_seconds if seconds is None else seconds

        def finish():
            time.sleep(duration)
            with self.lock:
                try:
                    if fail:
                        raise ApiError(500, fail)
                    work()
                    info["exitstatus"] = "OK"
                except ApiError as e:
                    info["exitstatus"] = e.message
                finally:
                    info["status"] = "stopped"
                    info["endtime"] = time.time()
                    for vid, holder in list(self.config_locks.items()):
                        if holder == upid:
                            del self.config_locks[vid]

        threading.Thread(target=finish, daemon=True).start()
        return upid

    def take_config_lock(self, vmid, upid_placeholder):
        """Proxmox's lock_config: wait for the holder, then fail like flock's timeout."""
        deadline = time.time() + self.args.lock_wait
        while int(vmid) in self.config_locks:
            self.lock.release()
            try:
                if time.time() > deadline:
                    raise ApiError(500, "can't lock file '/var/lock/qemu-server/lock-%s.conf' - got timeout" % vmid)
                time.sleep(0.02)
            finally:
                self.lock.acquire()
        self.config_locks[int(vmid)] = upid_placeholder

    def resources(self, kind):
        out = []
        if kind in (None, "vm"):
            for vm in sorted(self.vms.values(), key=lambda v: v["vmid"]):
                disk = disk_bytes(vm["config"])
                item = {"id": "qemu/%d" % vm["vmid"], "type": "qemu", "vmid": vm["vmid"], "name": vm["name"],
                        "node": NODE, "status": vm["status"], "template": 1 if vm["template"] else 0,
                        "maxcpu": int(vm["config"].get("cores", 1)), "maxmem": int(memory_mb(vm["config"])) << 20,
                        "maxdisk": disk, "disk": 0, "uptime": 0, "cpu": 0, "mem": 0}
                if vm["config"].get("tags"):
                    item["tags"] = vm["config"]["tags"]
                if vm.get("lock"):
                    item["lock"] = vm["lock"]
                out.append(item)
        if kind in (None, "node"):
            out.append({"id": "node/" + NODE, "type": "node", "node": NODE, "status": "online", "maxcpu": 32,
                        "maxmem": 128 << 30, "cpu": 0.05, "mem": 8 << 30, "uptime": 86400, "level": ""})
        if kind in (None, "storage"):
            out.append({"id": "storage/%s/local-lvm" % NODE, "type": "storage", "storage": "local-lvm", "node": NODE,
                        "status": "available", "plugintype": "lvmthin", "content": "images,rootdir",
                        "shared": 0, "disk": 50 << 30, "maxdisk": 4 << 40})
        return out

    def next_free(self, start=100):
        vmid = start
        while vmid in self.vms:
            vmid += 1
        return vmid

    # The endpoints.
    def handle(self, method, template, p):
        vmid = p.get("vmid")
        if (method, template) == ("GET", "/cluster/resources"):
            return self.resources(p.get("type"))
        if (method, template) == ("GET", "/cluster/nextid"):
            if "vmid" in p:
                if int(p["vmid"]) in self.vms:
                    raise ApiError(400, "Parameter verification failed.", {"vmid": "VM %s already exists" % p["vmid"]})
                vmid = int(p["vmid"])
            else:
                vmid = self.next_free()
            if self.take_fault("nextid_race"):
                # Another client got the same answer a moment ago and clones first.
                self.add_vm(vmid, "other-client-%d" % vmid, config={"cores": 1, "memory": "512"})
            return vmid
        if (method, template) == ("GET", "/nodes/{node}/tasks/{upid}/status"):
            task = self.tasks.get(p["upid"])
            if task is None:
                raise ApiError(500, "unable to parse worker upid '%s'" % p["upid"])
            return {k: v for k, v in task.items() if k not in ("started", "endtime")}
        self.node(p)
        if (method, template) == ("POST", "/nodes/{node}/qemu/{vmid}/clone"):
            return self.clone(p)
        if (method, template) == ("GET", "/nodes/{node}/qemu/{vmid}/config"):
            vm = self.vm(vmid)
            cfg = dict(vm["config"])
            cfg["digest"] = "%040x" % (hash(json.dumps(cfg, sort_keys=True)) & (1 << 160) - 1)
            return cfg
        if (method, template) == ("GET", "/nodes/{node}/qemu/{vmid}/status/current"):
            vm = self.vm(vmid)
            out = {"vmid": vm["vmid"], "name": vm["name"], "status": vm["status"], "ha": {"managed": 0},
                   "cpus": int(vm["config"].get("cores", 1)), "maxmem": int(memory_mb(vm["config"])) << 20,
                   "maxdisk": disk_bytes(vm["config"]), "qmpstatus": vm["status"], "uptime": 0}
            if vm.get("lock"):
                out["lock"] = vm["lock"]
            return out
        if (method, template) in (("POST", "/nodes/{node}/qemu/{vmid}/config"), ("PUT", "/nodes/{node}/qemu/{vmid}/config")):
            vm = self.vm(vmid)
            self.refuse_locked(vm)
            props = self.schema.find(template)[1][method]["parameters"]["properties"]
            settings = {k: typed(v, declared(props, k)) for k, v in p.items()
                        if k not in ("node", "vmid", "digest", "delete", "skiplock")}
            for k, v in settings.items():
                if re.fullmatch(r"(scsi|virtio|sata|ide)\d+", k):
                    raise ApiError(500, "this double does not allocate disks (%s)" % k)

            def apply():
                vm["config"].update(settings)
                for k in re.split(r"[ ,;]+", p.get("delete", "")):
                    vm["config"].pop(k, None)
                if "name" in settings:
                    vm["name"] = settings["name"]
            if method == "PUT":
                apply()
                return None
            return self.task("qmconfig", vmid, apply, seconds=self.args.task_seconds / 4)
        if (method, template) == ("PUT", "/nodes/{node}/qemu/{vmid}/resize"):
            vm = self.vm(vmid)
            self.refuse_locked(vm)
            disk = vm["config"].get(p["disk"])
            if disk is None:
                raise ApiError(500, "disk '%s' does not exist" % p["disk"])
            current = gib(re.search(r"size=([\d.]+[KMGT]?)", disk).group(1))
            size = p["size"]
            wanted = current + gib(size[1:]) if size.startswith("+") else gib(size)
            if wanted < current:
                raise ApiError(500, "shrinking disks is not supported")

            def grow():
                vm["config"][p["disk"]] = re.sub(r"size=[\d.]+[KMGT]?", "size=%dG" % wanted, disk)
            return self.task("resize", vmid, grow, seconds=self.args.task_seconds / 2)
        if (method, template) == ("POST", "/nodes/{node}/qemu/{vmid}/status/start"):
            vm = self.vm(vmid)
            self.refuse_locked(vm)
            if vm["template"]:
                raise ApiError(500, "you can't start a vm if it's a template")
            if vm["status"] == "running":
                raise ApiError(500, "VM %s already running" % vmid)
            return self.task("qmstart", vmid, lambda: self.power(vm, "running"))
        if (method, template) == ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"):
            vm = self.vm(vmid)
            return self.task("qmstop", vmid, lambda: self.power(vm, "stopped"), seconds=self.args.task_seconds / 2)
        if (method, template) == ("DELETE", "/nodes/{node}/qemu/{vmid}"):
            vm = self.vm(vmid)
            self.refuse_locked(vm)
            if vm["status"] == "running":
                raise ApiError(500, "VM %s is running - destroy failed" % vmid)
            if vm["template"] and not p.get("purge"):
                pass
            return self.task("qmdestroy", vmid, lambda: self.vms.pop(int(vmid), None))
        raise ApiError(501, "Method '%s %s' not implemented by the double" % (method, template))

    def node(self, p):
        if p.get("node") != NODE:
            raise ApiError(595, "no such cluster node '%s'" % p.get("node"))

    def refuse_locked(self, vm):
        if vm.get("lock"):
            raise ApiError(500, "VM is locked (%s)" % vm["lock"])

    def clone(self, p):
        source = self.vm(p["vmid"])
        newid = int(p["newid"])
        full = p.get("full", "0").lower() in TRUE_WORDS or not source["template"]
        if not full and "storage" in p:
            raise ApiError(400, "Parameter verification failed.", {"storage": "only allowed for full clones"})
        if self.take_fault("clone_lock_timeout"):
            raise ApiError(500, "can't lock file '/var/lock/qemu-server/lock-%s.conf' - got timeout" % source["vmid"])
        self.take_config_lock(source["vmid"], "pending")
        if newid in self.vms:
            del self.config_locks[source["vmid"]]
            raise ApiError(500, "unable to create VM %d: config file already exists" % newid)
        name = p.get("name", "Copy-of-VM-%s" % source["name"])
        config = {k: v for k, v in source["config"].items() if k not in ("template", "description")}
        if "description" in p:
            config["description"] = p["description"]
        for key, value in list(config.items()):
            if re.fullmatch(r"(scsi|virtio|sata|ide)\d+", key):
                storage = p.get("storage", value.split(":")[0]) if full else value.split(":")[0]
                disk_name = re.sub(r"^[^:]+:(base|vm)-\d+-", "%s:vm-%d-" % (storage, newid), value)
                config[key] = disk_name
        self.mac += 1
        config["net0"] = re.sub(r"virtio=[0-9A-F:]+", "virtio=BC:24:11:00:01:%02X" % (self.mac & 0xFF), config["net0"])
        self.add_vm(newid, name, config=config)
        self.vms[newid]["lock"] = "clone"
        fail = None
        if self.take_fault("clone_task_error"):
            fail = "clone failed: lvcreate 'pve/vm-%d-disk-0' error:   Volume group \"pve\" has insufficient free space" % newid

        def done():
            self.vms[newid].pop("lock", None)

        upid = self.task("qmclone", source["vmid"], done, fail=fail)
        self.config_locks[source["vmid"]] = upid
        if fail:
            # A failed clone removes what it created, as qm clone does.
            task = self.tasks[upid]

            def cleanup():
                while task["status"] == "running":
                    time.sleep(0.01)
                with self.lock:
                    self.vms.pop(newid, None)
            threading.Thread(target=cleanup, daemon=True).start()
        return upid

    def power(self, vm, status):
        vm["status"] = status
        if status == "running" and self.args.ssh_port:
            ip = re.search(r"ip=([\d.]+)", vm["config"].get("ipconfig0", ""))
            if ip:
                self.listeners[vm["vmid"]] = ssh_banner_listener(ip.group(1), self.args.ssh_port)
        if status == "stopped" and vm["vmid"] in self.listeners:
            self.listeners.pop(vm["vmid"]).close()

    def take_fault(self, name):
        if self.faults.get(name, 0) > 0:
            self.faults[name] -= 1
            return True
        return False

    def injected_500(self, method, path):
        for f in self.faults["http_500"]:
            if f["count"] > 0 and f.get("method", method) == method and re.search(f["path"], path):
                f["count"] -= 1
                return True
        return False


def typed(value, spec):
    """A form value stored as Proxmox keeps it: integers and booleans as numbers."""
    kind = (spec or {}).get("type")
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return 1 if value.lower() in TRUE_WORDS else 0
    return value


def memory_mb(config):
    return str(config.get("memory", "512")).split(",")[0].replace("current=", "")


def gib(size):
    units = {"K": 1 / (1 << 20), "M": 1 / 1024, "G": 1, "T": 1024}
    if size[-1] in units:
        return float(size[:-1]) * units[size[-1]]
    return float(size) / (1 << 30)


def disk_bytes(config):
    m = re.search(r"size=([\d.]+[KMGT]?)", config.get("scsi0", ""))
    return int(gib(m.group(1)) * (1 << 30)) if m else 0


def ssh_banner_listener(ip, port):
    """What a booted VM's sshd looks like from outside: it accepts and says its banner."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    sock.listen(16)

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            try:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
            finally:
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock


# --- HTTP -----------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every answer, which pveproxy does not.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        cluster = self.server.cluster
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/_double/"):
            return self.control(method, url.path, body)
        if not url.path.startswith("/api2/json/"):
            return self.reply(404, None, "not found")
        path = url.path[len("/api2/json"):]
        expected = "PVEAPIToken=%s=%s" % (cluster.args.token_id, cluster.args.token_secret)
        if self.headers.get("Authorization") != expected:
            return self.reply(401, None, "authentication failure")
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "")
        if body and "json" in ctype:
            params.update({k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in json.loads(body).items()})
        elif body:
            params.update(dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)))
        self.entry = {"method": method, "path": path, "params": dict(params), "time": time.time()}
        with cluster.lock:
            cluster.log.append(self.entry)
        template, info, path_params = cluster.schema.find(path)
        if template is None or method not in info:
            return self.violation(method, path, 501, "Method '%s %s' not implemented" % (method, path), params)
        if method in ("GET", "DELETE") and body:
            return self.violation(method, path, 400, "%s with a body" % method, params)
        params.update(path_params)
        errors = self.verify(info[method].get("parameters", {}), params)
        if errors:
            return self.violation(method, path, 400, "Parameter verification failed.", params, errors)
        with cluster.lock:
            if cluster.injected_500(method, path):
                return self.reply(500, None, "injected fault: proxy loop detected")
            try:
                data = cluster.handle(method, template, params)
            except ApiError as e:
                return self.reply(e.status, None, e.message, e.errors)
        problems = check_returns(data, info[method].get("returns", {}))
        if problems:
            cluster.violations.append({"method": method, "path": path, "answer": problems})
        return self.reply(200, data)

    def verify(self, schema, params):
        props = schema.get("properties", {})
        errors = {}
        for name, value in params.items():
            spec = declared(props, name)
            if spec is None:
                if not schema.get("additionalProperties"):
                    errors[name] = "property is not defined in schema and the schema does not allow additional properties"
                continue
            err = check_value(name, value, spec)
            if err:
                errors[name] = err
        for name, spec in props.items():
            if not spec.get("optional") and "[n]" not in name and name not in params:
                errors[name] = "property is missing and it is not optional"
        return errors

    def violation(self, method, path, status, message, params, errors=None):
        cluster = self.server.cluster
        with cluster.lock:
            cluster.violations.append({"method": method, "path": path, "params": params, "message": message,
                                       "errors": errors})
        return self.reply(status, None, message, errors)

    def control(self, method, path, body):
        cluster = self.server.cluster
        with cluster.lock:
            if path == "/_double/state":
                return self.reply(200, {str(k): {kk: vv for kk, vv in v.items()} for k, v in cluster.vms.items()})
            if path == "/_double/tasks":
                return self.reply(200, list(cluster.tasks.values()))
            if path == "/_double/log":
                return self.reply(200, {"requests": cluster.log, "violations": cluster.violations})
            if path == "/_double/faults" and method == "POST":
                faults = json.loads(body)
                for key, value in faults.items():
                    if key == "http_500":
                        cluster.faults["http_500"] += value
                    else:
                        cluster.faults[key] = value
                return self.reply(200, cluster.faults)
            if path == "/_double/vm" and method == "POST":
                change = json.loads(body)
                cluster.power(cluster.vm(change["vmid"]), change["status"])
                return self.reply(200, None)
        return self.reply(404, None, "no such control")

    def reply(self, status, data, message=None, errors=None):
        if getattr(self, "entry", None) is not None:
            self.entry["status"] = status
            self.entry = None
        body = {"data": data}
        if message and status >= 400:
            body["message"] = message + "\n"
        if errors:
            body["errors"] = errors
        raw = json.dumps(body).encode()
        reason = (message or "OK").splitlines()[0] if status != 200 else "OK"
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schema", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token-id", required=True)
    ap.add_argument("--token-secret", required=True)
    ap.add_argument("--ssh-port", type=int, default=0)
    ap.add_argument("--task-seconds", type=float, default=0.4)
    ap.add_argument("--lock-wait", type=float, default=1.0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.cluster = Cluster(args)
    server.cluster.schema = Schema(args.schema)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
