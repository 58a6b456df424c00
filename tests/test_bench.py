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
