"""openssl as the independent judge of what an issuer connector stored."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
_END = "-----END CERTIFICATE-----\n"


def verify_chain(pem_chain: str, root_pem: str, directory: Path) -> str:
    """``openssl verify`` of the leaf against the root, the rest of the chain untrusted; its output."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf, _, rest = pem_chain.partition(_END)
    (directory / "root.pem").write_text(root_pem)
    (directory / "leaf.pem").write_text(leaf + _END)
    args = [OPENSSL, "verify", "-CAfile", "root.pem"]
    if rest.strip():
        (directory / "untrusted.pem").write_text(rest)
        args += ["-untrusted", "untrusted.pem"]
    done = subprocess.run([*args, "leaf.pem"], cwd=directory, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def text_of(pem: str) -> str:
    """``openssl x509 -noout -text`` of the first certificate."""
    done = subprocess.run(
        [OPENSSL, "x509", "-noout", "-text"], input=pem, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout
