"""``parity bench``'s table: every figure of the README's performance table comes from one run."""
from parity.running import bench


def test_table_marks_each_figure_against_its_goal():
    figures = [bench._at_most("fast", 0.9, 1.0), bench._at_most("slow", 5.25, 4.0),
               bench.Figure("peak", "12 MiB")]
    assert bench.table(figures) == ["| figure | measured | goal | met |", "| --- | --- | --- | --- |",
                                    "| fast | 0.90x | ≤ 1x | yes |", "| slow | 5.25x | ≤ 4x | **no** |",
                                    "| peak | 12 MiB |  |  |"]


def test_main_job_reports_the_fresh_run_s_exit_code_wall_time_and_peak_rss():
    lines, (wall, rss) = bench.main_job("smoke", ["numpy"], keyword="conv1d")
    assert "fresh process (exit 0)" in wall.what and wall.measured.endswith(" s") and wall.goal == "≤ 288 s"
    assert rss.measured.endswith(" MiB") and float(rss.measured.split()[0]) > 10  # numpy alone is ~30 MiB
    assert lines[0].startswith("main job: `parity run --tier smoke -k 'conv1d'` on numpy")


def test_a_main_job_that_fails_says_so():
    _, (wall, _) = bench.main_job("smoke", ["numpy"], keyword="zzz-no-such-case")
    assert "(exit 2)" in wall.what


def test_the_run_s_framework_calls_are_timed_apart_from_its_probes():
    from parity import adapters
    from parity.core.inputs import generate
    from parity.core.spec import ConvSpec
    from parity.running import accumulation, runner

    case, probe = ConvSpec(spatial=(6,), kernel=3), ConvSpec(spatial=(7,), kernel=3, distribution="canary")
    plain = accumulation.call
    with bench._timed_calls({case}) as spent:
        for spec in (case, probe, probe):
            accumulation.call("numpy", adapters.get("numpy"), spec, list(generate(spec)), None)
    assert spent["probe calls"] == 2 and spent["cases"] > 0 and spent["probes"] > 0
    assert accumulation.call is plain and runner.call is plain


def test_run_vs_hand_loop_reports_the_least_the_run_can_take():
    import parity

    cases = [c for c in parity.collect("smoke") if c.id.startswith("conv1d")][:3]
    lines, figures = bench.run_vs_hand_loop(cases, ["numpy"])
    assert [f.goal for f in figures] == ["≤ 1.15x", "", "≤ 1.5x", ""]
    assert "(0 framework calls on canary data, 0.00 s)" in figures[1].what  # numpy states its accumulation
    assert float(figures[1].measured.rstrip("x")) == 1.0 and "least possible" in lines[2]


def test_the_pytest_ceiling_comes_from_a_session_of_the_first_case(monkeypatch):
    import subprocess

    argvs, clock = [], iter(range(0, 1000, 4))  # every session takes 4 "seconds"
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    monkeypatch.setattr(bench.subprocess, "run", lambda argv, **_: argvs.append(argv) or
                        subprocess.CompletedProcess(argv, 0))
    lines, (speedup, ceiling) = bench.pytest_workers("smoke", ["numpy"], rounds=1, first="conv1d-abc")
    assert argvs[-1][-4:] == ["-n", "0", "-k", "conv1d-abc"] and len(argvs) == 3
    assert speedup.measured == "1.00x" and ceiling.measured == "1.00x"  # 2 * 4 / (4 + 4)
    assert "one case's session (conv1d-abc), -n 0: 4.0s" in lines[1]


def test_no_ceiling_from_a_one_case_session_that_ran_no_test(monkeypatch):
    """A -k that selects nothing (exit 5) would time only start-up and collection: a ceiling too high."""
    import subprocess

    monkeypatch.setattr(bench.subprocess, "run", lambda argv, **_: subprocess.CompletedProcess(
        argv, 5 if argv[-2:] == ["-k", "odd[id]"] else 0))
    lines, figures = bench.pytest_workers("smoke", ["numpy"], rounds=1, first="odd[id]")
    assert len(figures) == 1 and lines[-1] == "ceiling: not measured, the session of odd[id] alone exited 5 (no test ran)"
