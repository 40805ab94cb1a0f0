"""Kannel 1.4.5 SMS gateway (bearerbox + smsbox) with Kannel's ``fakesmsc`` as the SMS centre.

Install: the Debian packages ``kannel`` and ``kannel-extras`` (which ships
``fakesmsc``) are fetched with ``apt-get download`` and unpacked with
``dpkg-deb -x`` into ``<cache>/kannel-root`` -- no system-wide install, no root.
Shared libraries a stock Debian bookworm lacks (libmariadb3, libpcre3,
libhiredis0.14, libct4, ...) are unpacked there too and found through
``LD_LIBRARY_PATH``.

Run: a small launcher (``launcher.py`` in the server folder, the process-group
leader whose PID is recorded) starts bearerbox, then ``fakesmsc`` (a *client*
of bearerbox's ``smsc = fake`` listener, receiving only, logging every message
to ``fakesmsc.log``), then smsbox; when one of them ends it ends the others.

Users: ``username`` sends a text longer than one SMS (160 GSM 7-bit / 70
UCS-2 characters) as several plain SMS (``concatenation = false``, so fakesmsc
shows each part's coding and every part decodes exactly); ``concat_username``
(same password) sends it as one concatenated SMS (``concatenation = true``,
parts with a UDH), which ``received_messages`` puts back together. Both send at
most 10 parts (``max-messages``) and cut off the rest.

Delivery reports: fakesmsc itself cannot send any (its line protocol has no
message ids), but bearerbox's ``smsc = fake`` module makes them when it hands a
message to fakesmsc: status 8 (SMSC accepted) and then 1 (delivered), once per
message, also a concatenated one. A failed (2), buffered (4) or rejected (16)
report cannot be provoked: fakesmsc takes everything.

Limits: fakesmsc's line protocol does not escape a newline in a GSM text, so
``received_messages`` joins a line that does not look like a message to the one
before; a part with a UDH does not say its coding, so a concatenated message is
read as UTF-8 unless it is not valid UTF-8 or contains a NUL (then UTF-16,
i.e. UCS-2): a UCS-2 text whose UTF-16 bytes happen to be NUL-free UTF-8 reads
wrong; nothing is stored across restarts (no ``store-type``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devstack.process import ManagedServer, MissingDependency, port_is_open

#: Where the unpacked packages keep the programs.
BINARIES = {
    "bearerbox": "usr/sbin/bearerbox",
    "smsbox": "usr/sbin/smsbox",
    "fakesmsc": "usr/lib/kannel/test/fakesmsc",
}
#: Debian bookworm package for each shared library Kannel links that may be missing.
LIBRARY_PACKAGES = {
    "libct.so.4": "libct4",
    "libhiredis.so.0.14": "libhiredis0.14",
    "libmariadb.so.3": "libmariadb3",
    "libpcre.so.3": "libpcre3",
    "libpcreposix.so.3": "libpcre3",
    "libpq.so.5": "libpq5",
    "libsqlite3.so.0": "libsqlite3-0",
    "libxml2.so.2": "libxml2",
    "libicuuc.so.72": "libicu72",
    "libicui18n.so.72": "libicu72",
    "libicudata.so.72": "libicu72",
    "libssl.so.3": "libssl3",
    "libcrypto.so.3": "libssl3",
    "libldap-2.5.so.0": "libldap-2.5-0",
    "liblber-2.5.so.0": "libldap-2.5-0",
    "libsasl2.so.2": "libsasl2-2",
    "libdb-5.3.so": "libdb5.3",
    "libgssapi_krb5.so.2": "libgssapi-krb5-2",
    "libkrb5.so.3": "libkrb5-3",
    "libk5crypto.so.3": "libk5crypto3",
    "libkrb5support.so.0": "libkrb5support0",
    "libkeyutils.so.1": "libkeyutils1",
    "libcom_err.so.2": "libcom-err2",
}
SYSTEM_INSTALL = (
    "apt-get install -y --no-install-recommends kannel kannel-extras && systemctl disable --now kannel"
    " (as root; the package starts a system bearerbox on port 13000)"
)
#: GSM 03.38 default alphabet and its extension table; anything else is sent as UCS-2.
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà\f^{}\\[~]|€"
)
_GOT = re.compile(r"Got message \d+: <(.*)>$")
_HEADER = re.compile(r"(\S+) (\S+) (text|data|ucs-2|udh)(?: (.*))?$", re.DOTALL)

LAUNCHER = '''"""Runs bearerbox, fakesmsc and smsbox as one process group (written by KannelServer)."""
import json, os, signal, socket, subprocess, sys, time

CFG = json.loads({cfg!r})
ENV = dict(os.environ, LD_LIBRARY_PATH=CFG["ld_library_path"])


class Stopped(Exception):
    pass


def stopped(signum, frame):
    raise Stopped


def wait_port(port, proc):
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"bearerbox did not open port {{port}}")


signal.signal(signal.SIGTERM, stopped)
signal.signal(signal.SIGINT, stopped)
procs = []
code = 1
try:
    bearerbox = subprocess.Popen(CFG["bearerbox"], env=ENV)
    procs.append(bearerbox)
    wait_port(CFG["smsc_port"], bearerbox)
    wait_port(CFG["smsbox_port"], bearerbox)
    procs.append(subprocess.Popen(CFG["fakesmsc"], env=ENV))
    procs.append(subprocess.Popen(CFG["smsbox"], env=ENV))
    while all(p.poll() is None for p in procs):
        time.sleep(0.2)
    print("launcher: exited:", [(p.args[0], p.returncode) for p in procs if p.poll() is not None],
          file=sys.stderr, flush=True)
except Stopped:
    code = 0
except Exception as exc:
    print(f"launcher: {{exc}}", file=sys.stderr, flush=True)
finally:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=8)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
sys.exit(code)
'''


@dataclass(frozen=True)
class ReceivedSms:
    """A message that reached the fake SMS centre (all its parts, if it came concatenated)."""

    sender: str
    receiver: str
    text: str
    #: How many SMS carried it: more than 1 only for a concatenated message.
    parts: int = 1


class SendSmsError(RuntimeError):
    """Kannel's sendsms interface did not accept a message; ``answer`` is its reply."""

    def __init__(self, status: int, answer: str) -> None:
        super().__init__(f"Kannel sendsms refused the message (HTTP {status}): {answer}")
        self.status = status
        self.answer = answer


#: The local stack's sendsms password (a development gateway, not a secret worth hiding).
DEVSTACK_PASSWORD = "telewatch-sms"


class KannelServer(ManagedServer):
    """bearerbox, smsbox and fakesmsc on 127.0.0.1, with a sendsms user for the project."""

    name = "kannel"
    start_timeout = 30.0

    def __init__(
        self,
        home: Path,
        admin_port: int = 13000,
        sendsms_port: int = 13013,
        smsc_port: int = 13015,
        smsbox_port: int = 13001,
        cache: Path | None = None,
        *,
        username: str = "telewatch",
        password: str = DEVSTACK_PASSWORD,
        admin_password: str = "telewatch-admin",
        concat_username: str | None = None,
    ) -> None:
        super().__init__(home.absolute())
        self.admin_port = admin_port
        self.sendsms_port = sendsms_port
        self.smsc_port = smsc_port
        self.smsbox_port = smsbox_port
        self.cache = (cache or home / "cache").absolute()
        self.root = self.cache / "kannel-root"
        self.username = username
        self.password = password
        self.concat_username = concat_username or f"{username}-concat"
        self.admin_password = admin_password
        self.fakesmsc_log = self.dir / "fakesmsc.log"

    # -- install ------------------------------------------------------------------
    def install(self) -> None:
        """Unpack kannel, kannel-extras and missing libraries into ``<cache>/kannel-root``."""
        if (self.root / ".installed").is_file():
            return
        tools = [t for t in ("apt-get", "dpkg-deb", "ldd") if shutil.which(t) is None]
        if tools:
            raise MissingDependency(
                f"the local Kannel is unpacked from Debian bookworm packages, but this machine has no "
                f"{', '.join(tools)}; run the stack on Debian/Ubuntu (package manager apt)"
            )
        partial = self.cache / f"kannel-root.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _unpack_kannel(self.cache / "kannel-debs", partial)
            with contextlib.suppress(OSError):  # OSError: another process finished first
                partial.rename(self.root)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def binary(self, name: str) -> Path:
        """The path of ``bearerbox``, ``smsbox`` or ``fakesmsc`` in the unpacked packages."""
        return self.root / BINARIES[name]

    def library_path(self) -> str:
        """``LD_LIBRARY_PATH`` for the libraries unpacked next to Kannel."""
        return _library_path(self.root)

    # -- configuration and process ------------------------------------------------
    def prepare(self) -> None:
        self.fakesmsc_log.unlink(missing_ok=True)
        (self.dir / "kannel.conf").write_text(self.config())
        conf = str(self.dir / "kannel.conf")
        cfg = {
            "ld_library_path": self.library_path(),
            "smsc_port": self.smsc_port,
            "smsbox_port": self.smsbox_port,
            "bearerbox": [str(self.binary("bearerbox")), "-v", "1", conf],
            "smsbox": [str(self.binary("smsbox")), "-v", "1", conf],
            "fakesmsc": self.fakesmsc_command(),
        }
        (self.dir / "launcher.py").write_text(LAUNCHER.format(cfg=json.dumps(cfg)))

    def fakesmsc_command(self) -> list[str]:
        """fakesmsc as a receive-only client of bearerbox's fake-SMSC port.

        ``-m 0`` sends no mobile-originated message; the message argument is still
        required (without one fakesmsc reads stdin) but never sent. ``-F``/``-V 0``
        write every received message ("Got message N: <...>") to ``fakesmsc.log``.
        """
        connect = ["-H", "127.0.0.1", "-r", str(self.smsc_port)]
        log = ["-v", "1", "-F", str(self.fakesmsc_log), "-V", "0"]
        return [str(self.binary("fakesmsc")), *connect, "-m", "0", *log, "0 0 text unused"]

    def config(self) -> str:
        """The kannel.conf text: every listener on 127.0.0.1."""
        d = self.dir
        return f"""\
group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = "{self.admin_password}"
admin-allow-ip = "127.0.0.1"
smsbox-port = {self.smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{d / "bearerbox.log"}"
log-level = 1
access-log = "{d / "access.log"}"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {self.smsc_port}
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{d / "smsbox.log"}"
log-level = 1

group = sendsms-user
username = "{self.username}"
password = "{self.password}"
concatenation = false
max-messages = 10

group = sendsms-user
username = "{self.concat_username}"
password = "{self.password}"
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
max-messages = 0
text = "telewatch does not answer SMS"
"""

    def command(self) -> list[str]:
        return [sys.executable, "-I", str(self.dir / "launcher.py")]

    def ready(self) -> bool:
        if not port_is_open(self.sendsms_port):
            return False
        status = self.admin_status()
        return f"FAKE:{self.smsc_port} (online" in status and re.search(r"smsbox:.*on-line", status) is not None

    def admin_status(self) -> str:
        """bearerbox's ``status.txt`` page, or "" when it does not answer."""
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={urllib.parse.quote(self.admin_password)}"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return str(answer.read().decode("utf-8", "replace"))
        except OSError:
            return ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.admin_port, self.smsbox_port, self.sendsms_port, self.smsc_port)

    def processes(self) -> dict[int, str]:
        """PID -> program name of every process in the server's process group."""
        leader = self.pid()
        found: dict[int, str] = {}
        if leader is None:
            return found
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            comm, rest = text[text.index("(") + 1 :].rsplit(")", 1)
            if int(rest.split()[2]) == leader:
                found[int(stat.parent.name)] = comm
        return found

    # -- SMS ----------------------------------------------------------------------
    def send_sms(self, to: str, text: str, sender: str = "telewatch", *, password: str | None = None) -> None:
        """Send an SMS through sendsms; raise SendSmsError unless Kannel accepts it.

        Text outside the GSM 7-bit alphabet (e.g. Chinese) goes as UCS-2 (``coding=2``).
        """
        query = {
            "username": self.username,
            "password": self.password if password is None else password,
            "from": sender,
            "to": to,
            "text": text,
            "charset": "UTF-8",
        }
        if not set(text) <= GSM7:
            query["coding"] = "2"
        url = f"{self.endpoint}?{urllib.parse.urlencode(query)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                status, body = answer.status, answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode("utf-8", "replace")
        if status >= 300 or not ("Accepted" in body or "Sent" in body):
            raise SendSmsError(status, body.strip())

    def received_messages(self) -> list[ReceivedSms]:
        """Every message fakesmsc got since this server started, oldest first.

        The parts of a concatenated message make one message once all have
        arrived (in the place of the last one); until then it is left out.
        """
        try:
            lines = self.fakesmsc_log.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []
        messages: list[ReceivedSms] = []
        pending: dict[tuple[str, str, int, int], dict[int, bytes]] = {}
        for line in lines:
            got = _GOT.search(line)
            if got is None:
                continue
            header = _HEADER.match(got.group(1))
            if header is None:  # the rest of a text that contained a newline
                if messages:
                    last = messages[-1]
                    messages[-1] = ReceivedSms(last.sender, last.receiver, f"{last.text}\n{got.group(1)}")
                continue
            sender, receiver, kind, data = header.groups()
            concat = _concatenation(data or "") if kind == "udh" else None
            if concat is None:
                messages.append(ReceivedSms(sender, receiver, _decode(kind, data or "")))
                continue
            reference, total, number, payload = concat
            parts = pending.setdefault((sender, receiver, reference, total), {})
            parts[number] = payload
            if len(parts) == total and set(parts) == set(range(1, total + 1)):
                del pending[(sender, receiver, reference, total)]
                text = _decode_unknown(b"".join(parts[n] for n in sorted(parts)))
                messages.append(ReceivedSms(sender, receiver, text, parts=total))
        return messages


def _decode(kind: str, data: str) -> str:
    if kind == "text":
        return data
    if kind == "udh":  # "<udh> data <payload>", one part of a concatenated message
        data = data.split(" ", 2)[-1]
    raw = urllib.parse.unquote_to_bytes(data.replace("+", " "))
    return raw.decode("utf-16-be" if kind == "ucs-2" else "utf-8", "replace")


def _concatenation(data: str) -> tuple[int, int, int, bytes] | None:
    """(reference, parts, part number, payload) of a ``udh`` line's data, if its UDH is a concatenation one."""
    fields = data.split(" ")
    if len(fields) != 3 or fields[1] != "data":
        return None
    udh, payload = (urllib.parse.unquote_to_bytes(f.replace("+", " ")) for f in (fields[0], fields[2]))
    at = 1
    while at + 1 < len(udh):
        iei, length = udh[at], udh[at + 1]
        value = udh[at + 2 : at + 2 + length]
        if iei == 0x00 and length == 3:  # 8-bit reference
            return value[0], value[1], value[2], payload
        if iei == 0x08 and length == 4:  # 16-bit reference
            return value[0] << 8 | value[1], value[2], value[3], payload
        at += 2 + length
    return None


def _decode_unknown(raw: bytes) -> str:
    """A payload whose coding fakesmsc does not show: UTF-8 (Kannel's internal for GSM text), else UCS-2."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-16-be", "replace")
    return raw.decode("utf-16-be", "replace") if "\x00" in text else text


def _library_path(root: Path) -> str:
    dirs = sorted(root.glob("usr/lib/*-linux-gnu*")) + sorted(root.glob("lib/*-linux-gnu*"))
    return ":".join(str(d) for d in dirs if d.is_dir())


def _run(argv: list[str], cwd: Path) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        hint = "run `apt-get update` as root first" if "apt-get" in argv[0] else "see its output"
        raise MissingDependency(f"`{' '.join(argv)}` failed ({hint}):\n{result.stdout}{result.stderr}".rstrip())


def _unpack(packages: list[str], debs: Path, root: Path) -> None:
    """Download ``packages`` into ``debs`` (unless there) and unpack them into ``root``."""
    fetch = [p for p in packages if not any(debs.glob(f"{p}_*.deb"))]
    if fetch:
        _run(["apt-get", "download", *fetch], debs)
    root.mkdir(parents=True, exist_ok=True)
    for package in packages:
        for deb in sorted(debs.glob(f"{package}_*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(root)], debs)


def _unpack_kannel(debs: Path, root: Path) -> None:
    """Unpack kannel, kannel-extras and the libraries the system lacks into ``root``."""
    debs.mkdir(parents=True, exist_ok=True)
    packages = ["kannel", "kannel-extras"]
    for _ in range(5):
        _unpack(packages, debs, root)
        absent = [name for name, path in BINARIES.items() if not (root / path).is_file()]
        if absent:
            raise MissingDependency(f"the Debian packages kannel/kannel-extras lack {absent}")
        missing = _missing_libraries(root)
        if not missing:
            (root / ".installed").write_text("\n".join(sorted(p.name for p in debs.glob("*.deb"))) + "\n")
            return
        unknown = sorted(s for s in missing if s not in LIBRARY_PACKAGES)
        if unknown:
            raise MissingDependency(
                f"Kannel needs shared libraries not on this machine: {', '.join(unknown)}; "
                f"install the packages that provide them, or all of Kannel's with `{SYSTEM_INSTALL}`"
            )
        packages = sorted({LIBRARY_PACKAGES[s] for s in missing})
    raise MissingDependency(f"Kannel still lacks libraries {sorted(missing)} after unpacking {packages}")


def _missing_libraries(root: Path) -> set[str]:
    """Sonames the Kannel programs need that neither the system nor ``root`` provides."""
    env = dict(os.environ, LD_LIBRARY_PATH=_library_path(root))
    missing: set[str] = set()
    for relative in BINARIES.values():
        result = subprocess.run(["ldd", str(root / relative)], env=env, capture_output=True, text=True, check=False)
        missing |= {line.split()[0] for line in result.stdout.splitlines() if "not found" in line}
    return missing
