"""The machinery of the hostile suite: run `netdsl` in-process with a watchdog, lay out files made
at test time (FIFOs, symlinks, folders, files outside the project), mask machine-dependent text,
and check what every answer to hostile input must satisfy, whatever its wording.

Used by ``tests/test_hostile_corpus.py`` (the golden corpus) and ``tests/test_hostile_generators.py``
(the Hypothesis generators). Nothing here writes outside a temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import secrets
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile"
CASES_DIR = HOSTILE / "cases"
DATA_DIR = HOSTILE / "data"
TABLE_GOLDEN_DIR = HOSTILE / "table"

#: text planted in committed files under tests/hostile/data that are not netdsl specs: never shown
PLANTED = "PLANTED-SECRET-5f0c2a9e71"
#: a fresh secret for this session, written into files outside the project made at test time
TOKEN = "SECRET-TOKEN-" + secrets.token_hex(8)
TOKEN_RE = re.compile(r"SECRET-TOKEN-[0-9a-f]{16}")
#: the environment variable that carries TOKEN into subprocesses (so /proc/self/environ holds it)
TOKEN_ENV = "NETDSL_HOSTILE_TOKEN"
#: netdsl's own environment variables: cleared for every run unless a case sets them
NETDSL_ENV = ("NETDSL_DEBUG", "NETDSL_BLOCKS_PATH", "NETDSL_ROOT", "NETDSL_MAX_MEMORY")

#: a run that takes longer than this is a hang (the watchdog interrupts it)
HANG_SECONDS = 60.0
#: a run that takes longer than this is too slow for hostile input (the documented limits are
#: there so that nothing turns into a hang; generous for a machine shared by several processes)
SLOW_SECONDS = 20.0
#: the extra address space a run may take (a failed memory guard gives an allocation error,
#: reported as a failure of the test, rather than a machine out of memory)
EXTRA_ADDRESS_SPACE = 3 << 30

HEADER_RE = re.compile(
    r"^(?P<file>\S+?)(?::(?P<line>\d+):(?P<col>\d+))?: (?P<severity>error|warning): (?P<message>.*)$",
    re.MULTILINE,
)
SUMMARY_RE = re.compile(r"^(\d+) of (\d+) spec file\(s\) valid, (\d+) error\(s\)$", re.MULTILINE)
GITHUB_RE = re.compile(
    r"^::(?P<level>error|warning) file=(?P<file>[^,]*),line=(?P<line>\d+),col=(?P<col>\d+),"
)
#: C0 control characters other than tab and newline, and DEL: a terminal escape must never be printed raw
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: names of netdsl's internals that must never reach a user (as in tests/test_error_corpus.py)
INTERNAL_RE = re.compile(
    r"_Failed|\b(?:InputDecl|ParamDecl|NodeSpec|RequireRule|BlockDef|BlockFile|NetworkFile)\b|object at 0x"
)

_MEM_RE = re.compile(r"\b\d+(?:\.\d+)? (?:[KMGTPE]iB|[KMGTPE]B)\b")  # "6.0 GiB", as netdsl prints sizes
_HUMAN_RE = re.compile(r"\(\d+(?:\.\d+)?[KMG]?B\)")  # summary.human(): "(1.23MB)"
_TIME_RE = re.compile(r"\b\d+(?:\.\d+)?(?:e[-+]?\d+)? ?(?:ms|s)\b")


class Hang(BaseException):
    """Raised by the watchdog inside a run that does not finish (a BaseException: netdsl's
    catch-all for internal errors must not swallow it)."""


@contextlib.contextmanager
def watchdog(seconds: float, what: str) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (SIGALRM: also interrupts a blocking open of a FIFO)."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"{what} did not finish within {seconds:.0f} s (a hang?)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _vm_size() -> int | None:
    try:
        m = re.search(r"^VmSize:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


@contextlib.contextmanager
def address_space_limit(extra: int = EXTRA_ADDRESS_SPACE) -> Iterator[None]:
    """Let the block grow the address space by at most ``extra`` bytes (RLIMIT_AS, soft limit)."""
    vm = _vm_size()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if vm is None:
        yield
        return
    limit = vm + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def environment(env: Mapping[str, str] | None) -> Iterator[None]:
    """netdsl's variables cleared, then ``env`` applied; everything restored afterwards."""
    keys = set(NETDSL_ENV) | set(env or {})
    saved = {k: os.environ.get(k) for k in keys}
    try:
        for k in NETDSL_ENV:
            os.environ.pop(k, None)
        os.environ.update(env or {})
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@dataclass(frozen=True)
class Run:
    """One `netdsl` command run in-process."""

    argv: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(
    argv: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    hang_seconds: float = HANG_SECONDS,
) -> Run:
    """``netdsl <argv>`` in this process: exit code, stdout, stderr; a hang fails with AssertionError."""
    from netdsl.cli import main

    if argv and argv[0] in ("build", "diagram"):
        import torch  # noqa: F401  (imported outside the address-space limit)
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    try:
        with (
            working_directory(cwd),
            environment(env),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            address_space_limit(),
            watchdog(hang_seconds, "netdsl " + " ".join(a[:80] for a in argv)),
        ):
            try:
                code = main(list(argv))
            except SystemExit as e:  # argparse's --help/--version
                code = e.code if isinstance(e.code, int) else 2
    except Hang as e:
        raise AssertionError(
            f"{e}\nstdout so far:\n{out.getvalue()}\nstderr so far:\n{err.getvalue()}"
        ) from None
    return Run(tuple(argv), code, out.getvalue(), err.getvalue(), time.perf_counter() - t0)


# ----------------------------------------------------------------------------- masking
def mask(text: str, tmp_dirs: Sequence[Path] = ()) -> str:
    """``text`` with machine-dependent parts replaced: temporary folders -> ``<tmp>``, this session's
    secret -> ``<secret>``, memory figures -> ``<mem>``, timings -> ``<time>``."""
    for d in tmp_dirs:
        for form in sorted({str(d), os.path.realpath(d)}, key=len, reverse=True):
            text = text.replace(form, "<tmp>")
    text = TOKEN_RE.sub("<secret>", text)
    text = _MEM_RE.sub("<mem>", text)
    text = _HUMAN_RE.sub("(<mem>)", text)
    return _TIME_RE.sub("<time>", text)


def golden_text(run: Run, tmp_dirs: Sequence[Path] = ()) -> str:
    """What a golden file holds: the exit code, then stdout (when there is any) and stderr."""
    parts = [f"exit: {run.code}\n"]
    if run.out:
        parts.append("--- stdout\n" + run.out + ("" if run.out.endswith("\n") else "\n"))
    parts.append("--- stderr\n" + run.err + ("" if run.err.endswith("\n") or not run.err else "\n"))
    return mask("".join(parts), tmp_dirs)


# ----------------------------------------------------------------------------- secrets
def secret_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a file that count as its secret content (long enough not to be a common word)."""
    try:
        raw = Path(path).read_bytes()[:100_000]
    except OSError:
        return []
    text = raw.decode("utf-8", "replace")
    return [s for s in (ln.strip() for ln in text.splitlines()) if len(s) >= 6]


def environ_entries() -> list[str]:
    """``NAME=value`` entries of this process's /proc/self/environ (what `extends: /proc/self/environ`
    would print), long enough to be meaningful."""
    try:
        raw = Path("/proc/self/environ").read_bytes()
    except OSError:
        return []
    entries = [e.decode("utf-8", "replace") for e in raw.split(b"\0")]
    return [e for e in entries if len(e) >= 12 and "=" in e]


_ENVIRON = environ_entries()


# ----------------------------------------------------------------------------- invariants
@dataclass(frozen=True)
class Expect:
    """What a hostile case documents about its answer."""

    exit: int = 1
    #: an error must be located here: (file as netdsl displays it, line)
    at: tuple[str, int] | None = None
    #: diagnostics may name a file without a line (the named file itself cannot be read, or a
    #: memory refusal about the whole network)
    unlocated_ok: bool = False
    #: texts that must not appear in any output (lines of a secret file)
    secrets: tuple[str, ...] = ()
    #: the longest the run may take
    seconds: float = SLOW_SECONDS
    #: the command is `validate` (a summary line in text format)
    validate: bool = False
    extra: Mapping[str, object] = field(default_factory=dict)


def _around(text: str, needle: str, width: int = 1500) -> str:
    """The part of ``text`` around the first ``needle`` (all of it when short)."""
    at = text.find(needle)
    if len(text) <= 2 * width or at < 0:
        return text[: 2 * width]
    return "..." + text[max(0, at - width) : at + width] + "..."


def check_common(run: Run, expect: Expect) -> None:
    """Invariants of every output format: exit code, no traceback or internal error, no secret,
    no raw control character, bounded time."""
    text = run.text
    cmd = f"`netdsl {' '.join(a[:80] for a in run.argv)}`"
    for bad, what in (("Traceback", "a traceback"), ("internal error", "an internal error")):
        assert bad not in text, f"{cmd} printed {what}:\n{_around(text, bad)}"
    leaked = INTERNAL_RE.search(text)
    assert leaked is None, (
        f"{cmd}: an internal name leaks: {leaked.group(0)!r}\n{_around(text, leaked.group(0))}"
    )
    for secret in (TOKEN, PLANTED, *expect.secrets):
        assert secret not in text, f"{cmd} printed secret text {secret[:40]!r}:\n{_around(text, secret)}"
    for entry in _ENVIRON:
        assert entry not in text, f"{cmd} printed an environment entry ({entry[:20]}...)"
    control = CONTROL_RE.search(text)
    assert control is None, f"{cmd} printed a raw control character {control.group(0)!r}:\n" + repr(
        _around(text, control.group(0), 300)
    )
    assert run.code == expect.exit, f"{cmd}: exit code {run.code}, documented {expect.exit}\n{text[:3000]}"
    if run.code == 2:
        assert "usage" in text, f"{cmd}: exit 2 without a usage error\n{text[:3000]}"
    assert run.seconds < expect.seconds, f"{cmd} took {run.seconds:.1f} s (at most {expect.seconds:.0f} s)"


def check_text(run: Run, expect: Expect) -> None:
    """Invariants of the text format: every diagnostic located, the documented location present,
    one diagnostic per error counted in validate's summary."""
    check_common(run, expect)
    text = run.text
    shown = f"`netdsl {' '.join(a[:80] for a in run.argv)}` printed:\n{text[:4000]}"
    headers = list(HEADER_RE.finditer(text))
    for h in headers:
        if h.group("file").startswith(("-", "<")):
            continue  # about a command-line value (`--set: error: ...`, `<value>:1:1: ...`), not a file
        if h.group("line") is None:
            assert expect.unlocated_ok, f"a diagnostic without line and column: {h.group(0)[:200]}\n{shown}"
        else:
            assert int(h.group("line")) > 0 and int(h.group("col")) > 0, h.group(0)
    errors = [h for h in headers if h.group("severity") == "error"]
    if run.code == 1:
        assert errors, f"exit 1 without a diagnostic `file:line:col: error: ...`\n{shown}"
    if expect.at is not None:
        file, line = expect.at
        where = [(h.group("file"), h.group("line")) for h in errors]
        assert (file, str(line)) in where, f"no error located at {file}:{line} (errors at {where})\n{shown}"
    if expect.validate and run.code != 2:
        summary = SUMMARY_RE.search(run.err)
        assert summary is not None, f"no summary line\n{shown}"
        assert int(summary.group(3)) == len(errors), (
            f"{summary.group(0)} but {len(errors)} diagnostic(s)\n{shown}"
        )


def check_json(run: Run, expect: Expect, files: Sequence[str] | None = None) -> dict[str, Any]:
    """Invariants of `validate --format json`: one parseable report, every error located; with
    ``files``, exactly one entry per file."""
    check_common(run, expect)
    if run.code == 2:  # a usage error: no report
        return {"files": [], "errors": 0, "ok": False}
    shown = f"`netdsl {' '.join(a[:80] for a in run.argv)}` printed:\n{run.text[:4000]}"
    try:
        report = json.loads(run.out)
    except ValueError as problem:
        raise AssertionError(f"stdout is not one JSON document ({problem})\n{shown}") from None
    assert isinstance(report, dict) and isinstance(report.get("files"), list), shown
    entries = report["files"]
    n_errors = 0
    for entry in entries:
        assert isinstance(entry, dict), shown
        for e in entry["errors"]:
            n_errors += 1
            if not expect.unlocated_ok and not str(e["file"]).startswith(("-", "<")):
                assert e["line"] >= 1 and e["column"] >= 1, f"an error without a location: {e}\n{shown}"
    assert report["errors"] == n_errors, shown
    assert report["ok"] is (n_errors == 0), shown
    if files is not None:
        reported = [str(entry["file"]) for entry in entries]
        assert sorted(reported) == sorted(files), (
            f"files reported {len(reported)}, expected {len(files)}; missing "
            f"{sorted(set(files) - set(reported))[:10]}, extra {sorted(set(reported) - set(files))[:10]}"
        )
    if expect.at is not None:
        file, line = expect.at
        where = [(e["file"], e["line"]) for entry in entries for e in entry["errors"]]
        assert (file, line) in where, f"no error located at {file}:{line} (errors at {where})\n{shown}"
    return report


def check_github(run: Run, expect: Expect, n_errors: int | None = None) -> list[re.Match[str]]:
    """Invariants of `validate --format github`: every annotation well-formed and on one line; with
    ``n_errors``, one ``::error`` per error."""
    check_common(run, expect)
    if run.code == 2:  # a usage error: no annotations
        return []
    shown = f"`netdsl {' '.join(a[:80] for a in run.argv)}` printed:\n{run.text[:4000]}"
    annotations = []
    for line in run.out.splitlines():
        if not line.startswith("::"):
            continue
        m = GITHUB_RE.match(line)
        assert m is not None, f"a malformed annotation: {line[:200]}\n{shown}"
        if not expect.unlocated_ok and not m.group("file").startswith(("-", "<")):
            assert int(m.group("line")) >= 1, f"an annotation without a line: {line[:200]}\n{shown}"
        annotations.append(m)
    errors = [m for m in annotations if m.group("level") == "error"]
    if run.code == 1:
        assert errors, f"exit 1 without an ::error annotation\n{shown}"
    if n_errors is not None:
        assert len(errors) == n_errors, f"{len(errors)} ::error annotations for {n_errors} errors\n{shown}"
    return errors


# ----------------------------------------------------------------------------- file layouts
@dataclass(frozen=True)
class Fifo:
    """A named pipe (nobody ever writes to it)."""


@dataclass(frozen=True)
class Dir:
    """An empty folder (its name may look like a file's, ``base.yaml``)."""


@dataclass(frozen=True)
class Link:
    """A symlink to ``target``; ``{T}`` in it stands for the layout's temporary root."""

    target: str


@dataclass(frozen=True)
class Unreadable:
    """A regular file with mode 000 (only an unprivileged user is refused reading it)."""

    text: str


@dataclass(frozen=True)
class Big:
    """A regular file of ``size`` bytes: a valid spec padded with a comment."""

    size: int


Entry = str | bytes | Fifo | Dir | Link | Unreadable | Big


def secret_shadow() -> str:
    """A file like /etc/shadow (not YAML a spec could be): its first line is what the bug printed."""
    return f"root:{TOKEN}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


def secret_spec() -> str:
    """A valid network spec outside the project, carrying the secret: refused all the same."""
    return (
        f"# {TOKEN}\nnetwork: outside\ndescription: {TOKEN}\ninputs: {{x: [B, 4]}}\ndims: {{B: 2}}\n"
        f"nodes:\n  fc: {{op: linear, in: x, out_features: 3}}\noutputs: fc\n"
    )


def standard_entries(marker: str | None = "pyproject.toml") -> dict[str, Entry]:
    """What every layout holds: the project marker, and secrets outside the project."""
    entries: dict[str, Entry] = {
        "secret/shadow": secret_shadow(),
        "secret/base.yaml": secret_spec(),
    }
    if marker == "pyproject.toml":
        entries["proj/pyproject.toml"] = "[project]\nname = 'hostile'\n"
    elif marker == ".git":
        entries["proj/.git"] = Dir()
    return entries


def make_entry(path: Path, entry: Entry, root: Path) -> None:
    """Create one entry of a layout (parents included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(entry, str):
        path.write_text(entry.replace("{T}", str(root)), encoding="utf-8")
    elif isinstance(entry, bytes):
        path.write_bytes(entry)
    elif isinstance(entry, Fifo):
        os.mkfifo(path)
    elif isinstance(entry, Dir):
        path.mkdir(exist_ok=True)
    elif isinstance(entry, Link):
        os.symlink(entry.target.replace("{T}", str(root)), path)
    elif isinstance(entry, Unreadable):
        path.write_text(entry.text, encoding="utf-8")
        path.chmod(0)
    elif isinstance(entry, Big):
        head = (
            "network: big\ninputs: {x: [B, 4]}\ndims: {B: 2}\nnodes:\n  fc: {op: relu, in: x}\noutputs: fc\n"
        )
        path.write_text(head + "#" * max(0, entry.size - len(head) - 1) + "\n", encoding="utf-8")
    else:  # pragma: no cover
        raise TypeError(entry)


def make_layout(root: Path, entries: Mapping[str, Entry]) -> None:
    """Create ``entries`` (paths relative to ``root``), in the order given."""
    for rel, entry in entries.items():
        make_entry(root / rel, entry, root)


def make_temporary_root(prefix: str = "netdsl-hostile-") -> Path:
    """A fresh temporary folder: in /dev/shm (a RAM file system, where creating and removing the
    thousands of small files of the generators is fast) when there is one, else in the default place."""
    fast = "/dev/shm"
    base = fast if os.path.isdir(fast) and os.access(fast, os.W_OK | os.X_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


@contextlib.contextmanager
def temporary_root(prefix: str = "netdsl-hostile-") -> Iterator[Path]:
    """A fresh temporary folder, removed afterwards with everything in it (FIFOs, links, mode-000 files)."""
    root = make_temporary_root(prefix)
    try:
        yield root
    finally:
        remove_tree(root)


def remove_tree(root: Path) -> None:
    """Remove ``root`` and everything in it (FIFOs, symlinks and mode-000 files included)."""
    for dirpath, dirs, _files in os.walk(root):
        for name in dirs:  # folders made unreadable by a case must be listable to be emptied
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                with contextlib.suppress(OSError):
                    os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(root, ignore_errors=True)


def display(path: Path, cwd: Path) -> str:
    """How netdsl displays ``path`` when run in ``cwd``: relative below it, else as given."""
    try:
        return str(Path(os.path.realpath(path)).relative_to(Path(os.path.realpath(cwd))))
    except ValueError:
        return str(path)


def line_of(text: str, needle: str) -> int:
    """The 1-based number of the first line of ``text`` that is not a comment and contains ``needle``."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line and not line.lstrip().startswith("#"):
            return n
    raise ValueError(f"no line holds {needle!r}")


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


__all__ = [
    "CASES_DIR",
    "DATA_DIR",
    "HANG_SECONDS",
    "PLANTED",
    "ROOT",
    "SLOW_SECONDS",
    "TABLE_GOLDEN_DIR",
    "TOKEN",
    "TOKEN_ENV",
    "Big",
    "CheckWorker",
    "Dir",
    "Entry",
    "Expect",
    "Fifo",
    "Hang",
    "Link",
    "Run",
    "Unreadable",
    "assert_clean",
    "check_common",
    "check_github",
    "check_json",
    "check_text",
    "cuda_available",
    "display",
    "golden_text",
    "line_of",
    "make_layout",
    "make_temporary_root",
    "mask",
    "remove_tree",
    "run_cli",
    "secret_lines",
    "standard_entries",
    "temporary_root",
    "watchdog",
]


# ----------------------------------------------------------------------------- a checking worker
_WORKER_SCRIPT = r"""
import json, resource, sys, time, traceback
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
limit = int(sys.argv[1])
if hard == resource.RLIM_INFINITY or limit < hard:
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
import netdsl
from netdsl.core.errors import NetdslError
out = sys.stdout
sys.stdout = sys.stderr
for line in sys.stdin:
    job = json.loads(line)
    t0 = time.perf_counter()
    answer = {"errors": [], "warnings": [], "exception": None, "outputs": None}
    try:
        spec = netdsl.load(job["name"], text=job["text"])
        res = netdsl.check(spec, overrides=job.get("overrides") or None, concrete=True)
        found = [("errors", e) for e in res.errors] + [("warnings", w) for w in res.warnings]
        if res.shapes is not None and not res.errors:
            answer["outputs"] = [[n, str(t)] for n, t in res.shapes.outputs]
    except NetdslError as e:
        found = [("errors", x) for x in e.errors]
    except BaseException as e:  # what must never happen: reported to the test
        found = []
        answer["exception"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))[-3000:]
    for kind, e in found:
        try:
            rendered = e.render()
        except BaseException as x:
            rendered = None
            answer["exception"] = f"render() of {type(e).__name__} raised {type(x).__name__}: {x}"
        answer[kind].append({"type": type(e).__name__, "is_netdsl": isinstance(e, NetdslError),
                             "message": e.message, "file": e.loc.file, "line": e.loc.line,
                             "col": e.loc.col, "rendered": rendered})
    answer["seconds"] = time.perf_counter() - t0
    out.write(json.dumps(answer) + "\n")
    out.flush()
"""


class CheckWorker:
    """A subprocess that runs ``netdsl.check`` on spec texts, one at a time, each with a timeout.

    For generated input that could make netdsl compute for a long time in C code (huge integers),
    where no in-process watchdog can interrupt it: a job that does not answer in time kills the
    worker (a fresh one starts for the next job) and fails the test. Its address space is limited.
    """

    def __init__(self, address_space: int = 3 << 30) -> None:
        self.address_space = address_space
        self.proc: Any = None

    def _start(self) -> None:
        import subprocess
        import sys

        env = {k: v for k, v in os.environ.items() if k not in NETDSL_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_SCRIPT, str(self.address_space)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            cwd=ROOT,
            env=env,
        )

    def check(
        self,
        text: str,
        *,
        name: str = "fuzz.yaml",
        overrides: Mapping[str, object] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The errors, warnings and outputs of ``netdsl.check`` of ``text`` (``exception``: what escaped)."""
        import select

        if self.proc is None or self.proc.poll() is not None:
            self._start()
        job = json.dumps({"text": text, "name": name, "overrides": dict(overrides or {})})
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(job + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise AssertionError(
                f"netdsl.check did not answer within {timeout:.0f} s (a hang?) on:\n{text[:2000]}"
            )
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            raise AssertionError(f"the checking process died (exit {code}) on:\n{text[:2000]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def assert_clean(answer: Mapping[str, Any], text: str = "") -> None:
    """A checking answer holds only located NetdslErrors: nothing escaped, every error rendered."""
    assert answer["exception"] is None, (
        f"an exception escaped netdsl.check:\n{answer['exception']}\non:\n{text[:2000]}"
    )
    for e in answer["errors"] + answer["warnings"]:
        assert e["is_netdsl"], e
        assert e["rendered"] is not None, e
        assert "internal error" not in e["rendered"], e
        assert CONTROL_RE.search(e["rendered"]) is None, f"a raw control character in {e['rendered']!r}"
        if e["file"] == "fuzz.yaml" and "too large" not in e["message"]:
            assert e["line"] >= 1, f"an error without a line: {e}\non:\n{text[:2000]}"


# ---------------------------------------------------------------- small spec texts of both suites

#: a valid network: one linear layer on an input x of [B, 4]
NET = (
    "network: net\ninputs: {x: [B, 4]}\ndims: {B: 2}\n"
    "nodes:\n  fc: {op: linear, in: x, out_features: 3}\noutputs: fc\n"
)
BASE = NET.replace("network: net", "network: base")


def thin(target: str, variant: str | None = None) -> str:
    """A thin network file extending ``target``."""
    return f"network: thin\nextends: {target}\n" + (f"variant: {variant}\n" if variant else "")


def uses(block: str) -> str:
    """A network whose node ``fc`` is an instance of ``block``."""
    return NET.replace("{op: linear, in: x, out_features: 3}", f"{{block: {block}, in: x}}")


def block_file(name: str) -> str:
    """A valid block file named ``name`` (a relu on x of [B, 4])."""
    return (
        f"block: {name}\ndims: {{B: 2}}\ninputs: {{x: [B, 4]}}\n"
        "nodes:\n  act: {op: relu, in: x}\noutputs: {y: act}\n"
    )
