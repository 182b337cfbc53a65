-- Where a bar sits in time: minute of the session, day of the week, bars left to the close,
-- and the session's opening gap from the previous session's last close.

with bars as (

    {{ bars_to_compute(ref('stg_bars')) }}

),

sessions as (

    select
        *,
        -- at a session's first bar the previous bar is the last one of the session before
        first_value(open) over session_bars as session_first_open,
        first_value(prev_close) over session_bars as previous_session_close
    from (
        select *, lag(close) {{ series_order() }} as prev_close from bars
    ) as with_prev
    window session_bars as (partition by symbol, bar_size, session_date order by bar_seq)

)

select
    symbol,
    bar_size,
    ts,
    bar_seq,
    ingested_at,
    cast({{ seconds_between('session_open_utc', 'ts') }} / 60 as integer) as minute_of_session,
    cast(extract(isodow from session_date) as integer) as day_of_week,
    bar_in_session,
    cast(ceil({{ seconds_between('ts', 'session_close_utc') }} / bar_seconds) as integer) - 1 as bars_to_close,
    is_regular_hours,
    is_early_close,
    session_first_open / previous_session_close - 1 as session_gap
from sessions
{{ rows_to_write() }}
