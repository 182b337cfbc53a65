{#- Sessions whose count of regular-hours bars differs from what the calendar
    implies: ceil(session length / bar length) intraday, one bar for daily and
    longer bars. Every session strictly between a series' first and last session
    is checked (a missing session counts 0 bars); the first and last may be
    partial: data that starts mid-day, a session still trading. early_closes:
    'exclude' checks full days only, 'only' checks half days (run it with
    severity warn: vendors disagree on half-day bars). -#}
{% test bars_per_session(model, sessions, calendar, early_closes='exclude') %}

{%- if early_closes not in ('exclude', 'only') %}
    {{ exceptions.raise_compiler_error(
        "bars_per_session: early_closes must be 'exclude' or 'only', got "
        ~ early_closes
    ) }}
{%- endif %}

with

series as (

    select
        symbol,
        bar_size,
        max(bar_seconds) as bar_seconds,
        min(session_date) as first_session,
        max(session_date) as last_session
    from {{ model }}
    where is_regular_hours
    group by symbol, bar_size

),

expected as (

    select
        series.symbol,
        series.bar_size,
        sessions.session_date,
        sessions.is_early_close,
        case
            when series.bar_seconds >= 86400 then 1
            else cast(ceil(
                {{ seconds_between('sessions.open_utc', 'sessions.close_utc') }}
                / series.bar_seconds
            ) as integer)
        end as expected_bars
    from series
    inner join {{ sessions }} as sessions
        on
            sessions.calendar = '{{ calendar }}'
            and series.first_session < sessions.session_date
            and series.last_session > sessions.session_date
    where
        sessions.is_early_close
        = {{ 'true' if early_closes == 'only' else 'false' }}

),

actual as (

    select
        symbol,
        bar_size,
        session_date,
        count(*) as actual_bars
    from {{ model }}
    where is_regular_hours
    group by symbol, bar_size, session_date

)

select
    expected.*,
    coalesce(actual.actual_bars, 0) as actual_bars
from expected
left join actual
    on
        expected.symbol = actual.symbol
        and expected.bar_size = actual.bar_size
        and expected.session_date = actual.session_date
where coalesce(actual.actual_bars, 0) <> expected.expected_bars

{% endtest %}
