{#- The bars every feature model reads: placed in their sessions, back-adjusted
    for splits and dividends as of the latest action (raw bars stay raw; a new
    action recomputes history here, never in raw.bars), and numbered within
    their series and session. One row per (symbol, bar_size, ts).

    An incremental table on DuckDB (dbt_project.yml). Placing and adjusting
    every bar is cheap; numbering and writing them all is not. So an incremental
    build places and adjusts every bar, finds where each series first differs
    from the table (first_changed_ts: new bars, a corrected or back-filled bar,
    a new action, a changed calendar) and numbers and writes the rows from
    there, counting on from the unchanged rows before them. -#}

{%- set stored = this if is_incremental() else none %}

with

bars as (

    select * from {{ ref('int_bars_placed') }}

),

factors as (

    select * from {{ ref('int_adjustment_factors') }}

),

adjusted as (

    select
        bars.symbol,
        bars.bar_size,
        bars.ts,
        bars.bar_count,
        factors.price_factor,
        factors.volume_factor,
        bars.close as raw_close,
        bars.bar_seconds,
        bars.session_date,
        bars.session_open_utc,
        bars.session_close_utc,
        bars.is_early_close,
        bars.is_regular_hours,
        bars.open * factors.price_factor as open,
        bars.high * factors.price_factor as high,
        bars.low * factors.price_factor as low,
        bars.close * factors.price_factor as close,  -- noqa: RF04
        bars.wap * factors.price_factor as wap,
        bars.volume * factors.volume_factor as volume,
        -- an action ingested after the bar makes the bar new again to an
        -- incremental build
        greatest(
            bars.ingested_at, coalesce(factors.adjusted_at, bars.ingested_at)
        ) as ingested_at
    from bars
    inner join factors
        on
            bars.symbol = factors.symbol
            and bars.bar_size = factors.bar_size
            and bars.trade_date = factors.trade_date

),

{%- if stored is not none %}

changed_from as (

    {{ first_changed_ts(
        'adjusted', stored, ['bar_seq', 'bar_in_session', 'session_start_seq']
    ) }}

),

sessions_before as (

    -- what the unchanged rows before a series' first change number: the
    -- rewritten rows count on from them
    select
        stored.symbol,
        stored.bar_size,
        stored.session_date,
        count(*) as rows_before,
        min(stored.bar_seq) as session_start_seq_before
    from {{ stored }} as stored
    inner join changed_from
        on
            stored.symbol = changed_from.symbol
            and stored.bar_size = changed_from.bar_size
            and stored.ts < changed_from.from_ts
    group by 1, 2, 3

),

series_before as (

    select
        symbol,
        bar_size,
        sum(rows_before) as rows_before
    from sessions_before
    group by 1, 2

),

to_number as (

    select
        adjusted.*,
        coalesce(series_before.rows_before, 0) as seq_offset,
        coalesce(sessions_before.rows_before, 0) as session_offset,
        sessions_before.session_start_seq_before
    from adjusted
    inner join changed_from
        on
            adjusted.symbol = changed_from.symbol
            and adjusted.bar_size = changed_from.bar_size
            and adjusted.ts >= changed_from.from_ts
    left join series_before
        on
            adjusted.symbol = series_before.symbol
            and adjusted.bar_size = series_before.bar_size
    left join sessions_before
        on
            adjusted.symbol = sessions_before.symbol
            and adjusted.bar_size = sessions_before.bar_size
            and adjusted.session_date is not distinct from sessions_before.session_date

),
{%- endif %}

numbered as (

    select
        *,
        -- (bigint on every engine: Spark's row_number is an int)
        cast(row_number() over (
            partition by symbol, bar_size order by ts
        ) - 1 {{- ' + seq_offset' if stored is not none }} as bigint) as bar_seq,
        cast(row_number() over (
            partition by symbol, bar_size, session_date order by ts
        ) - 1 {{- ' + session_offset' if stored is not none }} as bigint)
            as bar_in_session
    from {{ 'to_number' if stored is not none else 'adjusted' }}

),

sessions_numbered as (

    select
        *,
        {%- if stored is not none %}
        coalesce(session_start_seq_before, min(bar_seq) over (
            partition by symbol, bar_size, session_date
        )) as session_start_seq
        {%- else %}
        min(bar_seq) over (
            partition by symbol, bar_size, session_date
        ) as session_start_seq
        {%- endif %}
    from numbered

)

select *
{%- if stored is not none %}
    exclude (seq_offset, session_offset, session_start_seq_before)
{%- endif %}
from sessions_numbered
