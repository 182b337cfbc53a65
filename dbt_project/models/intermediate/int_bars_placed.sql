-- Every bar placed in its exchange session: the session on the bar's local calendar date
-- (var exchange_timezone) of var calendar, its open and close, and whether the bar starts
-- within regular hours.

with

bars as (

    select * from {{ ref('stg_bars') }}

),

bar_sizes as (

    select bar_size, seconds as bar_seconds from {{ source('raw', 'bar_sizes') }}

),

sessions as (

    select session_date, open_utc, close_utc, is_early_close
    from {{ source('raw', 'trading_sessions') }}
    where calendar = '{{ var("calendar") }}'

),

placed as (

    select
        bars.symbol,
        bars.bar_size,
        bars.ts,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.wap,
        bars.volume,
        bars.bar_count,
        bars.ingested_at,
        bar_sizes.bar_seconds,
        {{ local_date('bars.ts', var('exchange_timezone')) }} as trade_date,
        sessions.session_date,
        sessions.open_utc as session_open_utc,
        sessions.close_utc as session_close_utc,
        coalesce(sessions.is_early_close, false) as is_early_close,
        coalesce(
            bars.ts >= sessions.open_utc and bars.ts < sessions.close_utc, false
        ) as is_regular_hours
    from bars
    inner join bar_sizes on bars.bar_size = bar_sizes.bar_size
    left join sessions
        on sessions.session_date = {{ local_date('bars.ts', var('exchange_timezone')) }}

)

select * from placed
