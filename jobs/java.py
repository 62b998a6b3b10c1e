"""Find a Java runtime Spark 4 can use (17 or 21), whatever JAVA_HOME happens to say.

Machines often carry several JDKs; a JAVA_HOME pointing at, say, Java 25 makes Spark 4 fail at start with
an obscure error. Candidates are JAVA_HOME, the `java` on PATH, and the JDKs the system's alternatives
registry knows; the first with a supported major version wins.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

SUPPORTED_MAJORS = (17, 21)


class JavaNotFound(RuntimeError):
    pass


def java_major(java_home: Path) -> int | None:
    java = java_home / "bin" / "java"
    if not java.exists():
        return None
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def _candidates() -> list[Path]:
    found: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        found.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(os.path.realpath(on_path)).parent.parent)
    alternatives = shutil.which("update-alternatives")
    if alternatives:
        try:
            out = subprocess.run([alternatives, "--list", "java"], capture_output=True, text=True, timeout=30).stdout
            found += [Path(line.strip()).parent.parent for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.TimeoutExpired):
            pass
    # JDKs installed side by side usually share a parent folder with the one found above.
    siblings = []
    for home in list(found):
        parent = home.parent
        if parent.is_dir():
            siblings += sorted(p for p in parent.iterdir() if (p / "bin" / "java").exists())
    seen, ordered = set(), []
    for p in found + siblings:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            ordered.append(p)
    return ordered


def find_java_home() -> Path:
    tried = []
    for home in _candidates():
        major = java_major(home)
        tried.append(f"{home} ({major if major else 'not a JDK'})")
        if major in SUPPORTED_MAJORS:
            return home
    raise JavaNotFound(
        "no Java 17 or 21 found for Spark 4 (tried: " + (", ".join(tried) or "nothing on PATH") + "); "
        "install OpenJDK 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
    )


def ensure_java_home() -> Path:
    """Point JAVA_HOME at a supported JDK for this process and the JVMs it starts."""
    home = find_java_home()
    os.environ["JAVA_HOME"] = str(home)
    return home


if __name__ == "__main__":  # used by the Makefile and by scripts that call spark-submit
    print(find_java_home())
