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


def test_the_runner_s_framework_calls_are_timed_apart_from_the_probes_():
    from parity import adapters
    from parity.core.inputs import generate
    from parity.core.spec import ConvSpec
    from parity.running import accumulation, runner

    spec, plain = ConvSpec(spatial=(6,), kernel=3), (runner.call, accumulation.call)
    with bench._timed_calls() as spent:
        runner.call("numpy", adapters.get("numpy"), spec, list(generate(spec)), None)
        for _ in range(2):
            accumulation.call("numpy", adapters.get("numpy"), spec, list(generate(spec)), None)
    assert spent["cases"][1] == 1 and spent["probes"][1] == 2 and spent["cases"][0] > 0 and spent["probes"][0] > 0
    assert (runner.call, accumulation.call) == plain


def test_the_least_run_adds_the_probes_to_the_hand_loop():
    assert bench.least_run(bare=8.0, probes=2.0, calls=5.0) == (1.25, 2.0)


def test_run_vs_hand_loop_reports_the_least_the_run_can_take():
    import parity

    cases = [c for c in parity.collect("smoke") if c.id.startswith("conv1d")][:3]
    lines, figures = bench.run_vs_hand_loop(cases, ["numpy"])
    assert [f.goal for f in figures] == ["≤ 1.15x", "", "≤ 1.5x", ""]
    assert "(0 framework calls on canary data, 0.00 s)" in figures[1].what  # numpy states its accumulation
    assert "least possible" in lines[2]


def _sessions(monkeypatch, seconds):
    """pytest sessions that take ``seconds(argv, env)`` on a clock of their own; the argvs and envs seen."""
    import subprocess

    from parity.running import bench_suite

    now, seen = [0.0], []

    def run(argv, env=None, **_):
        seen.append((argv, env))
        now[0] += seconds(argv, env)
        return subprocess.CompletedProcess(argv, 5 if argv[-1] == "odd[id]" else 0)

    monkeypatch.setattr(bench_suite.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(bench_suite.subprocess, "run", run)
    return seen


def test_the_best_n2_estimate_shares_a_one_thread_run_after_each_worker_s_start_up(monkeypatch):
    from parity.running import bench_suite

    def seconds(argv, env):
        one_case, one_thread = argv[-2:] == ["-k", "conv1d-abc"], env is not None
        assert not one_case or one_thread  # the start-up session runs with the workers' threads
        return 6.0 if one_case else {("0", False): 20.0, ("2", False): 16.0, ("0", True): 18.0}[(argv[-1], one_thread)]

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = _sessions(monkeypatch, seconds)
    lines, (speedup, best) = bench_suite.pytest_workers("smoke", ["numpy"], rounds=1, first="conv1d-abc")
    assert speedup.measured == "1.25x"  # 20 / 16
    assert best.measured == "1.67x"  # 20 / (6 + (18 - 6) / 2)
    assert all(env["OMP_NUM_THREADS"] == "1" for _, env in seen if env is not None)
    assert "best -n 2 estimate F1 + (T1 - F1) / 2 = 12.0s" in lines[1]


def test_no_estimate_from_a_one_case_session_that_ran_no_test(monkeypatch):
    """A -k that selects nothing (exit 5) would time only start-up and collection: an estimate too high."""
    from parity.running import bench_suite

    _sessions(monkeypatch, lambda argv, env: 1.0)
    lines, figures = bench_suite.pytest_workers("smoke", ["numpy"], rounds=1, first="odd[id]")
    assert len(figures) == 1
    assert lines[-1] == "best -n 2 estimate: not measured, the session of odd[id] alone exited 5 (no test ran)"


def test_fastest_gives_each_call_blocks_in_turn_and_keeps_its_shortest_time(monkeypatch):
    """A fake clock: each call advances it by its own next duration. Each block has an untimed first call,
    then timed ones until the repeats are done and the block's budget is spent; the blocks take turns."""
    clock, order = [0.0], []
    # a is fastest in the first round, b in the second
    durations = {"a": iter([8, 0.0625, 0.25, 8, 0.375, 0.125]), "b": iter([8, 0.5, 0.375, 8, 0.03125, 0.5])}

    def call(name):
        def run():
            order.append(name)
            clock[0] += next(durations[name])
        return run

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    assert bench.fastest([call("a"), call("b")], repeats=2, rounds=2) == [0.0625, 0.03125]
    assert order == ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3  # two timed calls pass the 0.25 s budget
