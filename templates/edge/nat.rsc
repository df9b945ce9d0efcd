# Managed by mailctl: the edge router's port forwards for cluster {{ cluster }}, from the
# inventory's `nat:`, as MikroTik RouterOS commands (paste in a terminal, or /import).
# The firewall's forward chain must accept connections in state dstnat.
/ip{{ "v6" if family == "ip6" else "" }} firewall nat
remove [find comment~"^mailctl {{ cluster }}:"]
{% for f in forwards %}
add chain=dstnat dst-address={{ public_address }} protocol=tcp dst-port={{ f.ports | join(",") }} action=dst-nat to-addresses={{ f.address }} comment="mailctl {{ cluster }}: {{ f.host }}"
{% endfor %}
