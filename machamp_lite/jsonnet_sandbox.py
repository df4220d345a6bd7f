"""Evaluate one jsonnet config in a child process with a time and memory bound.

jsonnet is a programming language: a config of a few lines can recurse or build strings until
the machine runs out of memory (``local f(s) = f(s + s); f("x")``). Configs come from other
people, so machamp-lite evaluates a config that is not plain JSON in a separate process that
the operating system stops at a memory limit and the parent stops at a time limit; the user
gets one error saying which limit was hit and how to raise it.

This file runs as a script (``python jsonnet_sandbox.py``) so the child imports nothing but
the standard library and ``_jsonnet``; it must not import machamp_lite. The parent side is
``evaluate`` below, used by ``machamp_lite.config_files.load_config_file``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT_ENV = "MACHAMP_JSONNET_TIMEOUT"  # seconds
MEMORY_ENV = "MACHAMP_JSONNET_MEMORY_MB"  # address space of the child
DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 2048
MAX_OUTPUT_BYTES = 64 * 2**20  # a config's JSON is a few kB; more than this is a runaway
# Exit codes of the child, read by the parent.
EXIT_ERROR = 3  # jsonnet refused the config (syntax, a failed import, a runtime error)
EXIT_TOO_LARGE = 4


class SandboxError(Exception):
    """The config could not be evaluated; the message is for the user."""


def _limit(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise SandboxError(f"${env}={raw!r}: expected a positive number")
    return value


def evaluate(path: Path, allowed_roots: list[Path]) -> str:
    """The JSON text of ``path`` evaluated as jsonnet, imports confined to ``allowed_roots``."""
    timeout = _limit(TIMEOUT_ENV, DEFAULT_TIMEOUT)
    memory_mb = _limit(MEMORY_ENV, DEFAULT_MEMORY_MB)
    import _jsonnet

    request = json.dumps(
        {
            "path": str(path),
            "roots": [str(r) for r in allowed_roots],
            "memory_bytes": int(memory_mb * 2**20),
            # Where the parent found _jsonnet (site-packages, a user or virtual environment):
            # the child runs isolated (-I) and looks there only.
            "module_dir": os.path.dirname(os.path.abspath(_jsonnet.__file__)),
        }
    )
    try:
        done = subprocess.run(
            [sys.executable, "-I", __file__],
            input=request.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise SandboxError(
            f"evaluating it took longer than {timeout:g} s, so it was stopped (a jsonnet "
            f"config that recurses or loops?); if it is meant to, raise ${TIMEOUT_ENV}"
        ) from None
    message = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode == 0:
        return done.stdout.decode("utf-8")
    if done.returncode == EXIT_ERROR:
        raise SandboxError(f"not valid JSON/jsonnet: {_one_line(message)}")
    if done.returncode == EXIT_TOO_LARGE:
        raise SandboxError(message)
    raise SandboxError(
        f"evaluating it needed more than {memory_mb:g} MB of memory, so it was stopped (a "
        f"jsonnet config that builds huge values?); if it is meant to, raise ${MEMORY_ENV}"
    )


def _one_line(message: str) -> str:
    """jsonnet's error and the first place of its stack trace, on one line."""
    lines = [" ".join(line.split()) for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and not lines[0].endswith(lines[1]):
        return f"{lines[0]} (at {lines[1]})"
    return lines[0] if lines else "unknown error"


def _import_callback(roots: list[Path]):
    """Imports only from inside the allowed folders: a config must not read the machine's
    other files."""

    def callback(directory: str, relative: str) -> tuple[str, bytes]:
        target = (Path(directory) / relative).resolve()
        if not any(target == root or root in target.parents for root in roots):
            raise RuntimeError(
                f"import {relative!r} leaves the config's folder {roots[0]}; put the imported "
                "file beside the config or add its folder to $MACHAMP_CONFIG_IMPORT_PATH"
            )
        if not target.is_file():
            raise RuntimeError(f"imported file not found: {target}")
        return str(target), target.read_bytes()

    return callback


def _child() -> int:
    import resource

    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    limit = request["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, request["module_dir"])
    try:
        import _jsonnet

        roots = [Path(r) for r in request["roots"]]
        text = _jsonnet.evaluate_file(request["path"], import_callback=_import_callback(roots))
    except MemoryError:
        return 1  # reported by the parent as the memory limit
    except RuntimeError as error:
        if "memory" in str(error).lower() and "alloc" in str(error).lower():
            return 1
        sys.stderr.write(str(error).strip())
        return EXIT_ERROR
    if len(text) > MAX_OUTPUT_BYTES:
        sys.stderr.write(
            f"it evaluates to more than {MAX_OUTPUT_BYTES // 2**20} MB of JSON; a config is "
            "a few kB (a jsonnet config that builds huge values?)"
        )
        return EXIT_TOO_LARGE
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(_child())
