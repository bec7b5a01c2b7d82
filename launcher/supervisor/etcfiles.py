"""The text of a pod's /etc/hosts and /etc/resolv.conf, as the kubelet
writes them (launcher/supervisor/podfs.py writes them once per pod and
binds them read-only on every container's /etc/...).
"""
import ipaddress

HOST_RESOLV_CONF = "/etc/resolv.conf"
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"   # the real servers behind 127.0.0.53
RESOLV_LIMIT = 64 << 10
MAX_NAMESERVERS = 3                   # the kubelet's (and glibc's) limits
MAX_SEARCH = 32
MAX_SEARCH_CHARS = 2048
NO_IP_ADDRESS = "127.0.1.1"           # the pod's name without a pod IP (Debian's convention)


def hosts_file(hostname, ip=None, aliases=()):
    """/etc/hosts as the kubelet writes it (ensureHostsFile): localhost
    entries, the pod's IP and name, then hostAliases [(ip, [names])]. A pod
    without an IP (no network) gets its name on 127.0.1.1."""
    lines = ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
             "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes", "fe00::2\tip6-allrouters",
             f"{ip or NO_IP_ADDRESS}\t{hostname}"]
    if aliases:
        lines.append("# Entries added by HostAliases.")
        lines += [f"{a}\t" + "\t".join(names) for a, names in aliases]
    return "\n".join(lines) + "\n"


def _read_host_file(path):
    try:
        with open(path, "rb") as f:
            return f.read(RESOLV_LIMIT).decode(errors="replace")
    except OSError:
        return ""


def _parse_resolv(text):
    servers, search, options = [], [], []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if not words:
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options += words[1:]
    return servers, search, options


def _loopback(server):
    try:
        return ipaddress.ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolv_conf(source=None):
    """The pod's resolv.conf. dnsPolicy ClusterFirst with no cluster DNS
    falls back to Default, the node's resolver configuration (what the
    kubelet does, with an event): the host's /etc/resolv.conf, or, when
    every server there is a loopback stub (systemd-resolved's 127.0.0.53,
    unreachable from the pod's network namespace), the servers behind it
    (kubeadm points the kubelet there the same way). At most 3 servers and
    32 search domains, as the kubelet keeps."""
    text = _read_host_file(source or HOST_RESOLV_CONF)
    servers, search, options = _parse_resolv(text)
    if source is None and servers and all(_loopback(s) for s in servers):
        alt = _parse_resolv(_read_host_file(SYSTEMD_RESOLV_CONF))
        if alt[0]:
            servers, search, options = alt
    search = search[:MAX_SEARCH]
    while search and len(" ".join(search)) > MAX_SEARCH_CHARS:
        search.pop()
    lines = [f"nameserver {s}" for s in servers[:MAX_NAMESERVERS]]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n" if lines else ""
