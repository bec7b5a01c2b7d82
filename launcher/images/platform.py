"""Platforms as OCI names them: OS/ARCH[/VARIANT], and this host's."""
import os

from launcher.errors import LauncherError

# uname -m -> (GOARCH, variant), as containers/image maps them
_MACHINES = {"x86_64": ("amd64", ""), "aarch64": ("arm64", ""), "armv7l": ("arm", "v7"),
             "armv6l": ("arm", "v6"), "i686": ("386", ""), "i386": ("386", ""),
             "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", ""),
             "mips64": ("mips64", ""), "loongarch64": ("loong64", "")}


def host():
    """This machine's platform, e.g. linux/amd64 or linux/arm/v7."""
    machine = os.uname().machine
    arch, variant = _MACHINES.get(machine, (machine, ""))
    return f"linux/{arch}" + (f"/{variant}" if variant else "")


def parse(text):
    """(os, architecture, variant) of OS/ARCH[/VARIANT]; variant may be ''."""
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) not in (2, 3) or not all(p and p.replace("_", "").isalnum() for p in parts):
        raise LauncherError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT], "
                            f"e.g. linux/amd64")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""
