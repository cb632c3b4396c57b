"""The HTML report in a real browser: headless Chromium lays out every chart and paints it.

Two looks: the DOM after layout (a probe script, added to a copy of the page, measures every mark
of every chart with ``getBBox``; the report itself has no script), and a screenshot whose pixels
must hold each chart's colours. ``make test`` installs Debian's chromium when it is missing.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from conftest import missing
from qalqan.config import DEFAULT_FX
from qalqan.reports.facts import read_facts
from qalqan.reports.figures import ACTION_COLORS, PALETTE
from qalqan.reports.html import render_html
from qalqan.reports.report import build_report
from qalqan.store import open_record

from .conftest import WINDOW

CHARTS = ["fraud-rate-value", "fraud-rate-cnp", "psd2-tra", "penalties", "alerts-per-day", "rule-precision", "scores"]
PROBE = """<script>
window.addEventListener('load', () => {
  const out = {};
  for (const fig of document.querySelectorAll('figure.chart')) {
    const svg = fig.querySelector('svg'), box = svg.getBoundingClientRect();
    let drawn = 0;
    for (const m of svg.querySelectorAll('.mark')) {
      const b = m.getBBox(), len = m.getTotalLength ? m.getTotalLength() : 0;
      if ((b.width > 0 && b.height > 0) || len > 0) drawn++;
    }
    out[fig.id] = {width: box.width, height: box.height, top: box.top + window.scrollY,
                   marks: svg.querySelectorAll('.mark').length, drawn: drawn};
  }
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def read_png(path: Path) -> tuple[int, int, list[bytearray]]:
    """Rows of RGB(A) bytes of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif f == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        prev = line
    return width, bpp, rows


@pytest.fixture(scope="module")
def report_html(sim_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    record = open_record(sim_db)
    facts = read_facts(record, date.fromisoformat(WINDOW[0]), date.fromisoformat(WINDOW[1]), "RUB", DEFAULT_FX)
    record.close()
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_html(build_report(facts, DEFAULT_FX)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> str:
    binary = chromium()
    if binary is None:
        missing("chromium not found (looked for /usr/bin/chromium, chromium, google-chrome): "
                "`make test` installs Debian's package, or run `apt-get install -y chromium`")
    return binary


def test_every_chart_is_laid_out_with_drawn_marks(browser: str, report_html: Path, tmp_path: Path):
    probed = tmp_path / "probed.html"
    probed.write_text(report_html.read_text().replace("</body>", PROBE + "</body>"))
    r = run_chromium(browser, tmp_path / "profile", "--dump-dom", probed.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert m, r.stdout[-2000:]
    probe = json.loads(m.group(1).replace("&quot;", '"'))
    assert sorted(probe) == sorted(f"chart-{c}" for c in CHARTS)
    for chart, seen in probe.items():
        assert seen["width"] > 300 and seen["height"] > 150, (chart, seen)
        assert seen["drawn"] >= 1 and seen["drawn"] >= seen["marks"] // 2, (chart, seen)
    # Charts come before the tables: all of them within the first 2,000 pixels.
    assert max(seen["top"] + seen["height"] for seen in probe.values()) < 2000


def test_the_screenshot_holds_every_charts_colours(browser: str, report_html: Path, tmp_path: Path):
    png = tmp_path / "report.png"
    r = run_chromium(browser, tmp_path / "profile", f"--screenshot={png}", "--window-size=1200,2000",
                     "--hide-scrollbars", report_html.as_uri())
    assert r.returncode == 0 and png.exists(), r.stderr[-2000:]
    width, bpp, rows = read_png(png)
    assert width == 1200 and len(rows) == 2000
    pixels = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), width, bpp)[:, :, :3]
    packed = (pixels[:, :, 0].astype(np.int32) << 16) | (pixels[:, :, 1].astype(np.int32) << 8) | pixels[:, :, 2]
    for name, colour in (("series line", PALETTE["blue"]), ("penalty bars", PALETTE["red"]),
                         ("bonus bars and transfers", PALETTE["green"]), ("score bins", PALETTE["grey"]),
                         ("hold alerts", ACTION_COLORS["hold"])):
        n = int((packed == int(colour[1:], 16)).sum())
        assert n > 50, (name, colour, n)  # painted, not merely present in the markup
    chart_area = packed[600:1900]
    assert (chart_area == 0xFFFFFF).mean() < 0.95  # the chart area is not blank
