"""Whether a cluster's secrets on the controller (the common role's secrets_generate.yml:
a CA, a key and certificate per host, the operator's client certificate) are all there
and still match the inventory, checked in one process for every host: the role then skips
its per-host generation steps, a dozen module runs on the controller, on a re-run.

Only a "yes" skips anything: any doubt (a file missing, a name or address changed, a key
that does not match, a mode) answers "no" and the role's modules do the real work.
Run by path with the controller's Python (Ansible's, which has `cryptography`):
    python mesos_runtime/ops/cluster_secrets.py DIR --ca-name NAME --operator P --host h=ip
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Expected:
    """One certificate the role makes: its files, common name, SANs and modes."""

    cert: Path
    key: Path
    common_name: str
    # "DNS:name", "IP:address"; the CA's and the operator's: their common name (the CSR
    # module's use_common_name_for_san)
    sans: frozenset[str]
    cert_mode: int
    server: bool  # a host's: serverAuth besides clientAuth


def expected(directory: Path, ca_name: str, operator: str, hosts: dict[str, str]) -> list[Expected]:
    certs = [
        Expected(
            directory / "ca/ca.crt",
            directory / "ca/ca.key",
            ca_name,
            frozenset({f"DNS:{ca_name}"}),
            0o644,
            False,
        ),
        Expected(
            directory / "operator.crt",
            directory / "operator.key",
            operator,
            frozenset({f"DNS:{operator}"}),
            0o600,
            False,
        ),
    ]
    for host, ip in sorted(hosts.items()):
        certs.append(
            Expected(
                directory / f"hosts/{host}.crt",
                directory / f"hosts/{host}.key",
                host,
                frozenset({f"DNS:{host}", f"IP:{ipaddress.ip_address(ip)}"}),
                0o644,
                True,
            )
        )
    return certs


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sans(cert: x509.Certificate) -> frozenset[str]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(
        [f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)]
        + [f"IP:{a}" for a in names.get_values_for_type(x509.IPAddress)]
    )


def stale(certs: list[Expected]) -> list[str]:
    """What does not match, by file name; empty when every secret is current. The first
    of `certs` is the CA, which signs the others."""
    ca_cert: x509.Certificate | None = None
    problems: list[str] = []
    for want in certs:
        if not (want.cert.is_file() and want.key.is_file()):
            problems.append(f"{want.cert.name}: missing")
        else:
            try:
                problems += _examine(want, ca_cert)
                ca_cert = ca_cert or x509.load_pem_x509_certificate(want.cert.read_bytes())
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound) as e:
                problems.append(f"{want.cert.name}: {type(e).__name__}")
        if ca_cert is None:  # without the CA nothing else can be current
            return problems
    return problems


def _examine(want: Expected, ca_cert: x509.Certificate | None) -> list[str]:
    problems: list[str] = []
    if _mode(want.key) != 0o600 or _mode(want.cert) != want.cert_mode:
        problems.append(f"{want.cert.name}: file mode")
    cert = x509.load_pem_x509_certificate(want.cert.read_bytes())
    key = serialization.load_pem_private_key(want.key.read_bytes(), password=None)
    if not (isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"):
        return [*problems, f"{want.key.name}: not a secp256r1 key"]
    if cert.public_key() != key.public_key():
        problems.append(f"{want.cert.name}: does not match its key")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [want.common_name]:
        problems.append(f"{want.cert.name}: common name")
    if _sans(cert) != want.sans:
        problems.append(f"{want.cert.name}: subject alternative names")
    if ca_cert is None:  # the CA itself
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            problems.append(f"{want.cert.name}: not a CA")
        return problems
    cert.verify_directly_issued_by(ca_cert)  # raises when not
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    wanted = {ExtendedKeyUsageOID.CLIENT_AUTH} | (
        {ExtendedKeyUsageOID.SERVER_AUTH} if want.server else set()
    )
    if set(usage) != wanted:
        problems.append(f"{want.cert.name}: extended key usage")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--ca-name", required=True)
    parser.add_argument("--operator", required=True)
    parser.add_argument("--host", action="append", default=[], metavar="NAME=IP")
    args = parser.parse_args()
    hosts = dict(h.split("=", 1) for h in args.host)
    problems = stale(expected(args.directory, args.ca_name, args.operator, hosts))
    print(json.dumps({"current": not problems, "stale": problems}))


if __name__ == "__main__":
    main()
