"""The pseudonymisation key: from the environment, or (embedded default only) a local key file."""

from __future__ import annotations

import logging
import os
import secrets

from jobs.config import Settings
from jobs.errors import CrmError

log = logging.getLogger(__name__)


def pseudonymisation_key(settings: Settings) -> bytes:
    value = os.environ.get(settings.privacy.key_env_var)
    if value:
        return value.encode("utf-8")
    if not settings.privacy.allow_local_key:
        raise CrmError(f"the pseudonymisation key is not set: export {settings.privacy.key_env_var} "
                       "(from your secret store) before ingesting")
    path = settings.local_data_dir / settings.privacy.local_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
        log.warning("created a local pseudonymisation key in %s (outside version control); on a cluster set %s "
                    "instead. Keep this file: tokens from another key will not match.", path,
                    settings.privacy.key_env_var)
    return path.read_text().strip().encode("utf-8")
