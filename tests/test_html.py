"""The HTML report: structure, escaping, failure pictures, and a real headless Chromium load."""
import base64
import dataclasses
import shutil

import numpy as np
import pytest

from parity import adapters
from parity.report import html
from parity.core import png
from parity.running import runner
from parity.running.registry import collect, select

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Shifted:
    """The numpy backend with every output off by 1000: fails on every case."""

    name = "shifted"

    def available(self):
        return None

    def supports(self, spec):
        return None

    def run(self, spec, x, w, dy=None):
        return (adapters.get("numpy").run(spec, x, w) + 1000).astype(x.dtype)


@pytest.fixture
def results(monkeypatch):
    original = adapters.get
    monkeypatch.setattr(adapters, "get", lambda name: Shifted() if name == "shifted" else original(name))
    cases = select(collect("smoke"), "conv2d and f32")
    return list(runner.run(cases, ["numpy", "shifted"]))


@pytest.fixture
def page_html(results):
    return html.render(results, {"tier": "smoke", "backends": ["numpy", "shifted"]})


def test_report_has_matrix_table_and_failures(results, page_html):
    assert "<table id=matrix>" in page_html and "<table id=cases class=sortable>" in page_html
    failing = [r for r in results if r.status == "fail"]
    assert page_html.count("<section class=failure>") == len({r.case for r in failing}) > 0  # each case once
    assert page_html.count("data:image/png;base64,") == len(failing) > len({r.case for r in failing})
    assert "<h2>Arithmetic fingerprints</h2>" in page_html and "class=legend" in page_html
    assert "reproduce: parity run --tier smoke --backends shifted" in page_html
    assert "http://" not in page_html and "https://" not in page_html  # self-contained


def test_reasons_are_escaped(results):
    hostile = dataclasses.replace(results[0], status="fail", reason="<script>alert(1)</script>")
    text = html.render([hostile], {"tier": "smoke", "backends": ["numpy"]})
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text


def test_failure_picture_shows_the_error_map(results):
    failing = next(r for r in results if r.status == "fail" and r.against == "reference")
    picture = png.encode(png.error_map(np.full((1, 2, 3, 3), 1000.0)))
    assert picture.startswith(png.SIGNATURE)
    assert base64.b64decode(failing.error_map).startswith(png.SIGNATURE)  # drawn by the run itself


def test_report_never_runs_a_backend(results, monkeypatch):
    """Reports read results only: with every way to run a backend broken, the page still has its maps."""
    from parity.running import runner

    def refuse(*args, **kwargs):
        raise AssertionError("a report ran a backend")

    monkeypatch.setattr(runner, "_execute", refuse)
    monkeypatch.setattr(runner.CaseRun, "outcome", refuse)
    page = html.render(results, {"tier": "default", "backends": ["numpy", "broken"]})
    failing = next(r for r in results if r.status == "fail")
    assert failing.error_map in page


@pytest.mark.skipif(BROWSER is None, reason="Debian chromium is not installed (apt-get install chromium)")
def test_report_loads_in_headless_chromium(tmp_path, page_html):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = tmp_path / "report.html"
    path.write_text(page_html, encoding="utf-8")
    problems = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(path.as_uri())
        assert page.locator("#matrix").is_visible()
        assert page.locator("#matrix tbody tr").count() == 2
        ratios = lambda: page.locator("#cases tbody tr td:nth-child(9)").all_inner_texts()
        page.click("#cases th:nth-child(9)")
        first = [float(v) for v in ratios()]
        page.click("#cases th:nth-child(9)")
        second = [float(v) for v in ratios()]
        assert first == sorted(first) and second == sorted(second, reverse=True)
        assert page.locator("section.failure img").first.evaluate("img => img.naturalWidth") > 0
        browser.close()
    assert problems == []


def test_an_unreadable_recording_is_in_the_html_counts_and_failures(tmp_path, monkeypatch, capsys):
    from parity.cli.main import main

    (tmp_path / "recs" / "bad").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PARITY_RECORDED", "")  # --recorded sets it for this process: undone after the test
    argv = ["run", "--tier", "smoke", "-k", "recorded", "--recorded", "recs", "--backends", "numpy"]
    assert main([*argv, "--json", "r.json", "--html", "r.html"]) == 1
    assert "\n1 cases x 1 backends, 1 comparisons" in capsys.readouterr().out  # as `parity report` counts them
    page = (tmp_path / "r.html").read_text()
    assert "1 comparisons, 0 pass, 0 fail, 0 skip, 1 error" in page
    failure = page.split("<h2>Failures</h2>")[1].split("<h2>")[0]
    assert "<h3>recorded-bad</h3>" in failure and "unreadable recording" in failure
    assert main(["report", "r.json", "--html", "again.html"]) == 1
    assert (tmp_path / "again.html").read_text() == page
    assert main(["report", "r.json", "--backends", "numpy"]) == 1  # narrowed, it keeps the case's error
    assert "\n1 cases x 1 backends, 1 comparisons" in capsys.readouterr().out
