{#- Where a bar sits in time: minute of the session, day of the week, bars left
    to the close, and the session's gap from the previous session's regular-
    hours close. -#}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

session_prices as (

    -- each session's regular-hours open and close (extended-hours bars are left
    -- out, so all-hours and regular-hours data define the gap the same way)
    select
        symbol,
        bar_size,
        session_date,
        min(bar_seq) filter (where is_regular_hours) as regular_open_seq,
        min_by(open, bar_seq) filter (where is_regular_hours) as regular_open,
        max_by(close, bar_seq) filter (where is_regular_hours) as regular_close
    from bars
    where session_date is not null
    group by 1, 2, 3

),

session_gaps as (

    select
        symbol,
        bar_size,
        session_date,
        regular_open_seq,
        regular_open,
        -- the close of the last earlier session that had regular-hours bars
        {{ last_value_ignoring_nulls('regular_close') }} over (
            partition by symbol, bar_size order by session_date
            rows between unbounded preceding and 1 preceding
        ) as previous_regular_close
    from session_prices

),

positioned as (

    select
        bars.symbol,
        bars.bar_size,
        bars.ts,
        bars.bar_seq,
        bars.ingested_at,
        bars.write_from_seq,
        cast(
            {{ seconds_between('bars.session_open_utc', 'bars.ts') }} / 60
            as integer
        ) as minute_of_session,
        cast({{ iso_day_of_week('bars.session_date') }} as integer) as day_of_week,
        bars.bar_in_session,
        cast(ceil(
            {{ seconds_between('bars.ts', 'bars.session_close_utc') }}
            / bars.bar_seconds
        ) as integer) - 1 as bars_to_close,
        bars.is_regular_hours,
        bars.is_early_close,
        -- from the regular open on: that open against the previous regular
        -- close; before it (extended hours), the latest close against it: the
        -- gap so far, never a later price
        case
            when bars.bar_seq >= session_gaps.regular_open_seq
                then
                    session_gaps.regular_open
                    / session_gaps.previous_regular_close - 1
            else bars.close / session_gaps.previous_regular_close - 1
        end as session_gap,
        -- warm: every window full, recursive indicators settled, and a whole
        -- previous session behind the bar (its session gap is known)
        bars.bar_seq >= {{ var('warmup_bars') }}
        and session_gaps.previous_regular_close is not null as warmup_complete
    from bars
    left join session_gaps
        on
            bars.symbol = session_gaps.symbol
            and bars.bar_size = session_gaps.bar_size
            and bars.session_date = session_gaps.session_date

)

select {{ feature_columns() }}
from positioned
{{ rows_to_write() }}
