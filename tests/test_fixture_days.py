"""Fixtures taught prompts with tools are keyed by the days they were taught for (the LFM2.5 template
writes today's date into those prompts): a new day names a new build; fixtures without tools do not move."""
from fixtures import build, teach
from lfm_conformance.data import matrix as matrix_mod


def test_taught_days_are_today_and_tomorrow():
    import datetime

    today = datetime.date.today()
    assert teach.taught_days() == (today.isoformat(), (today + datetime.timedelta(days=1)).isoformat())


def test_a_new_day_names_a_new_build_of_a_tool_fixture_only(monkeypatch):
    m = matrix_mod.load()
    before = {name: build.fixture_dir(name, m) for name in ("dense-chat", "dense-base")}
    monkeypatch.setattr(teach, "taught_days", lambda: ("2031-02-03", "2031-02-04"))
    after = {name: build.fixture_dir(name, m) for name in ("dense-chat", "dense-base")}
    assert before["dense-chat"] != after["dense-chat"]
    assert before["dense-base"] == after["dense-base"]  # no chat template, no prompt with tools
    assert build.dated_days(m.fixtures["dense-base"]) == ()


def test_dated_strftime_now_answers_with_the_day():
    assert teach.dated("2030-01-02")("%Y-%m-%d") == "2030-01-02"
