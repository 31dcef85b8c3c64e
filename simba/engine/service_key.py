"""Per-run service authentication: a secret per service, in a key file only the run's user
may read.

The key file is ``.simba/keys/<name>.key`` in the run (mode 0600, in a 0700 directory); its
path reaches the service as ``SIMBA_SERVICE_KEY_FILE`` and every module of the run in its
config documents as ``services.<name>.keyFile``.  A caller sends ``Authorization: Bearer
<key>``; :func:`simba.module.authorized` is the service author's one-line check.  A
resumed run keeps the key it made.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: The environment variable that names a service's key file.
KEY_FILE_VARIABLE = "SIMBA_SERVICE_KEY_FILE"


def key_file(run_dir: Path, name: str) -> Path:
    """The key file of the service ``name``, made now if it does not exist."""
    directory = run_dir / ".simba" / "keys"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)
    path = directory / f"{name}.key"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        path.chmod(0o600)
        return path
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secrets.token_urlsafe(32))
    return path


def authorization(path: Path) -> dict[str, str]:
    """The header that authenticates a request to the service whose key is at ``path``."""
    return {"Authorization": f"Bearer {path.read_text(encoding='ascii').strip()}"}
