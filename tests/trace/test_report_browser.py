"""The report in a real browser: headless Chromium opens the index and a compile page from
``file://`` URLs, dumps the DOM (compile ids, status, links) and takes screenshots that must be
valid, non-blank PNGs with the page's own styling. Chromium comes from Debian's `chromium`
package: the set-up installs it when it is missing (as root, with apt, bounded in time) and the
tests skip with the reason when that is not possible."""

from __future__ import annotations

import contextlib
import fcntl
import html.parser
import os
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest

from tests.trace.test_report import make_report

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars")
INSTALL_TIMEOUT_S = 420  # for the whole install, apt-get update included


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _apt(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def _install_chromium() -> str:
    """Install Debian's chromium; returns why it failed, or "" when it worked."""
    if os.environ.get("DYNAJIT_NO_BROWSER_INSTALL"):
        return "DYNAJIT_NO_BROWSER_INSTALL is set"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root or no apt-get (install it: apt-get install chromium)"
    # One installer at a time when the tests run in several processes (pytest -n).
    lock_path = Path(tempfile.gettempdir()) / "dynajit-chromium-install.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _find_chromium():
            return ""
        deadline = time.monotonic() + INSTALL_TIMEOUT_S
        install = ("install", "-y", "-q", "--no-install-recommends", "chromium")
        try:
            proc = _apt(*install, timeout=INSTALL_TIMEOUT_S)
            if proc.returncode != 0:  # the package lists may be missing or stale
                _apt("update", "-q", timeout=max(1.0, deadline - time.monotonic()))
                proc = _apt(*install, timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return f"apt-get did not finish within {INSTALL_TIMEOUT_S} s"
        if proc.returncode != 0:
            return "apt-get install chromium failed: " + proc.stderr.strip()[-300:]
    return "" if _find_chromium() else "apt-get installed no chromium binary"


@pytest.fixture(scope="module")
def chromium() -> str:
    found = _find_chromium()
    if found is None:
        why = _install_chromium()
        found = _find_chromium()
        if found is None:
            pytest.skip(f"headless Chromium is not available ({why})")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return make_report(tmp_path_factory.mktemp("browser"))[1]


def run_chromium(chromium: str, tmp: Path, *args: str) -> str:
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class Dom(html.parser.HTMLParser):
    """The parts of a dumped DOM the tests read."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.rows: list[dict] = []
        self.hrefs: list[str] = []
        self.sections: list[str] = []
        self.styled_header = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr" and "data-compile-id" in a:
            self.rows.append(a)
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "section" and "id" in a:
            self.sections.append(a["id"])
        if tag == "header" and a.get("class") == "top":
            self.styled_header = True


def test_index_dom(chromium, report, tmp_path):
    dom = Dom(run_chromium(chromium, tmp_path, "--dump-dom", (report / "index.html").as_uri()))
    assert [(r["data-compile-id"], r["data-status"]) for r in dom.rows] == [
        ("[0/0]", "ok"), ("[0/1]", "ok"), ("[1/0]", "fallback"), ("[2/0]", "error"),
        ("[3/0]", "missing"), ("[4/0]", "ok")]
    compile_links = [h for h in dom.hrefs if h.startswith("compile_")]
    assert len(compile_links) == 6
    for href in compile_links:
        assert (report / href.split("#")[0]).is_file(), href
    assert {"summary", "frame-0-0", "frame-0-1", "malformed", "logs"} <= dom.ids


def test_compile_page_dom(chromium, report, tmp_path):
    page = report / "compile_0_0_0.html"
    dom = Dom(run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri()))
    assert {"phases", "stack", "graph", "graph-code", "guards", "bytecode-before",
            "bytecode-after", "metrics"} <= set(dom.sections)
    assert "compile-id" in dom.ids
    source_links = [h for h in dom.hrefs if h.startswith("source_")]
    assert source_links
    for href in source_links:
        target, _, anchor = href.partition("#")
        target_dom = Dom((report / target).read_text())
        assert not anchor or anchor in target_dom.ids, href


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG in pure Python: (width, height, rows of RGB bytes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) *
                                                          (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                up_left = previous[i - bpp] if i >= bpp else 0
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(
            b for j in range(0, stride, 4) for b in line[j:j + 3]))
        previous = line
    return width, height, rows


def check_screenshot(path: Path) -> None:
    width, height, rows = png_pixels(path)
    assert (width, height) == (1280, 900)
    grey = [sum(r[i:i + 3]) / 3 for r in rows[::4] for i in range(0, len(r), 12)]
    mean = sum(grey) / len(grey)
    variance = sum((g - mean) ** 2 for g in grey) / len(grey)
    assert variance > 100, f"the screenshot looks blank (variance {variance:.1f})"
    assert len(set(grey)) > 20
    # The page's inline style applied: a dark header bar on top, a light page below it.
    assert sum(rows[10][30:33]) / 3 < 80, "no dark header bar: the inline CSS did not apply"
    assert sum(rows[200][3:6]) / 3 > 200


@contextlib.contextmanager
def kept(path: Path):
    """Copy a screenshot to $DYNAJIT_SCREENSHOT_DIR (for a person to look at) when it is set."""
    yield path
    keep = os.environ.get("DYNAJIT_SCREENSHOT_DIR")
    if keep and path.exists():
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


@pytest.mark.parametrize("page", ["index.html", "compile_0_0_0.html", "compile_0_2_0.html"])
def test_screenshots_are_not_blank(chromium, report, tmp_path, page):
    with kept(tmp_path / f"{page.removesuffix('.html')}.png") as shot:
        run_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1280,900",
                     (report / page).as_uri())
        check_screenshot(shot)
