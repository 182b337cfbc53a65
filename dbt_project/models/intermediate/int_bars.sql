{{ config(materialized='table') }}

{#- The bars every feature model reads: placed in their sessions, back-adjusted
    for splits and dividends as of the latest action (raw bars stay raw; a new
    action recomputes history here, never in raw.bars), and numbered within
    their series and session. One row per (symbol, bar_size, ts). -#}

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

numbered as (

    select
        *,
        -- (bigint on every engine: Spark's row_number is an int)
        cast(row_number() over (
            partition by symbol, bar_size order by ts
        ) - 1 as bigint) as bar_seq,
        cast(row_number() over (
            partition by symbol, bar_size, session_date order by ts
        ) - 1 as bigint) as bar_in_session
    from adjusted

),

sessions_numbered as (

    select
        *,
        min(bar_seq) over (
            partition by symbol, bar_size, session_date
        ) as session_start_seq
    from numbered

)

select * from sessions_numbered
