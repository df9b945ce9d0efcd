#!/usr/bin/env python3
"""Writes the ansible peer of a `mailctl deploy`: the files `mailctl render` produced (its
manifest.json says owner, group, mode and component of each), copied with the same owners
and modes, each component's handler (restart or reload of its unit) notified on change, and
the same package list asserted present. It is what an admin who already had our templates
would run with ansible: no fact gathering, pipelining, ControlPersist, forks 10.

usage: ansible_peer.py RENDER_DIR INVENTORY.yaml-as-json OUT_DIR
  RENDER_DIR   the tree `mailctl render --out` wrote (manifest.json at its top)
  hosts.json   [{name, address}], the lab hosts
  OUT_DIR      gets ansible.cfg, hosts.ini and site.yml
"""
import json
import sys
from pathlib import Path


def main():
    render, hosts_json, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    key, known_hosts = sys.argv[4], sys.argv[5]
    manifest = json.loads((render / "manifest.json").read_text())
    hosts = json.loads(hosts_json.read_text())
    out.mkdir(parents=True, exist_ok=True)

    (out / "ansible.cfg").write_text(
        "[defaults]\n"
        "forks = 10\n"
        "gathering = explicit\n"
        "host_key_checking = True\n"
        "interpreter_python = /usr/bin/python3\n"
        "stdout_callback = default\n"
        "retry_files_enabled = False\n"
        "[ssh_connection]\n"
        "pipelining = True\n"
        f"ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known_hosts}\n"
        "control_path_dir = /tmp/mailctl-bench-cp\n"
    )
    lines = ["[lab]"]
    for h in hosts:
        lines.append(f"{h['name']} ansible_host={h['address']} ansible_user=root ansible_ssh_private_key_file={key}")
    (out / "hosts.ini").write_text("\n".join(lines) + "\n")

    plays = []
    for host, spec in sorted(manifest.items()):
        units = {c["name"]: (c["unit"], c["on_change"]) for c in spec["components"]}
        packages = sorted({p for c in spec["components"] for p in c["packages"]})
        # mailctl's facts read the package states with dpkg-query; the same here (the apt
        # module would need python3-apt, which the hosts do not carry).
        tasks = [{
            "name": "packages present",
            "ansible.builtin.command": {"argv": ["dpkg-query", "-W", "-f=${Status}\\n", *packages]},
            "changed_when": False,
        }]
        handlers = {}
        for f in spec["files"]:
            task = {
                "name": f["dest"],
                "ansible.builtin.copy": {
                    "src": str(render / host / f["dest"].lstrip("/")),
                    "dest": f["dest"],
                    "owner": f["owner"],
                    "group": f["group"],
                    "mode": oct(f["mode"]).replace("0o", "0"),
                },
            }
            unit, action = units.get(f["component"], (None, None))
            if unit and action:
                handler = f"{action} {unit}"
                task["notify"] = handler
                handlers[handler] = {
                    "name": handler,
                    "ansible.builtin.systemd": {"name": unit, "state": "restarted" if action == "restart" else "reloaded"},
                }
            tasks.append(task)
        plays.append({
            "name": host,
            "hosts": host,
            "gather_facts": False,
            "tasks": tasks,
            "handlers": list(handlers.values()),
        })
    # JSON is YAML: no PyYAML needed to write the playbook.
    (out / "site.yml").write_text(json.dumps(plays, indent=1) + "\n")


if __name__ == "__main__":
    main()
