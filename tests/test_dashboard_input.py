"""Malformed dashboard callback input (issue 13.5): whatever a browser sends (a hand-edited
request, a stale page), each view answers with a figure or notice saying what is wrong,
never an exception (Dash would answer 500 and leave the page blank). Before: a run id that
is not text, a start of 2026-13-01 or an end in 2299 raised DuckDB conversion errors, an
unknown overlay a KeyError, and an unknown symbol said "no SPYY bars" without a suggestion."""

from __future__ import annotations

import pytest

import dashboard.app as views
from tests.test_api import backtested  # noqa: F401 - the predicted sample with backtest run 'api-bt'

BAD = {
    "unknown run": dict(run_id="no-such-run"),
    "a quote in the run": dict(run_id="x'; drop table backtest.runs; --"),
    "run is not a string": dict(run_id=["api-bt"]),
    "unknown symbol": dict(symbol="SPYY"),
    "start is not a date": dict(start="2026-13-01"),
    "end in 2299": dict(end="2299-01-01"),
    "unknown overlay": dict(overlays=["nope"], panels=["nope"]),
}


def _text(figure) -> str:
    return " ".join(a.text for a in figure.layout.annotations) if figure.layout.annotations else ""


@pytest.mark.parametrize("case", BAD)
def test_every_view_answers_malformed_input_with_a_notice(case, backtested):  # noqa: F811
    db = backtested
    args = dict(run_id="api-bt", symbol="SPY", start="2025-11-03", end="2025-11-07", overlays=["ema"], panels=["rsi"])
    args |= BAD[case]
    chart = views.symbol_view(db, args["run_id"], args["symbol"], args["start"], args["end"], args["overlays"], args["panels"])
    performance = views.performance_view(db, args["run_id"])
    tear, _, _ = views.tearsheet_view(db, args["run_id"])
    signal = views.signal_view(db, args["run_id"])
    choices = views.symbol_choices(db, args["run_id"])
    assert chart is not None and performance is not None and tear and signal is not None and choices is not None
    if case == "unknown symbol":
        assert "did you mean SPY?" in _text(chart)
    if case == "start is not a date":
        assert _text(chart) == "cannot parse '2026-13-01': use 2025-06-01 or 2025-06-01T09:30"
    if case == "end in 2299":
        assert _text(chart).startswith("2299-01-01 is out of range: use a date between 1677-09-2")
    if case in ("unknown run", "a quote in the run"):
        assert "is not in backtest.runs" in str(performance[0])
    if case == "run is not a string":
        assert "choose a backtest run above" in str(performance[0])
    if case == "unknown overlay":
        assert len(chart.data) > 0  # the chart, with the overlays and panels it knows
