{#- Every bar placed in its exchange session: the session on the bar's local
    calendar date (var exchange_timezone) of var calendar, its open and close,
    and whether the bar starts within regular hours. -#}

with

bars as (

    select * from {{ ref('stg_bars') }}

),

bar_sizes as (

    select
        bar_size,
        bar_seconds
    from {{ ref('stg_bar_sizes') }}

),

sessions as (

    select
        session_date,
        open_utc,
        close_utc,
        is_early_close
    from {{ ref('stg_trading_sessions') }}
    where calendar = '{{ var("calendar") }}'

),

dated as (

    select
        *,
        {{ local_date('ts', var('exchange_timezone')) }} as trade_date
    from bars

),

placed as (

    select
        dated.symbol,
        dated.bar_size,
        dated.ts,
        dated.open,
        dated.high,
        dated.low,
        dated.close,
        dated.wap,
        dated.volume,
        dated.bar_count,
        dated.ingested_at,
        bar_sizes.bar_seconds,
        dated.trade_date,
        sessions.session_date,
        sessions.open_utc as session_open_utc,
        sessions.close_utc as session_close_utc,
        coalesce(sessions.is_early_close, false) as is_early_close,
        coalesce(
            dated.ts >= sessions.open_utc and dated.ts < sessions.close_utc,
            false
        ) as is_regular_hours
    from dated
    inner join bar_sizes on dated.bar_size = bar_sizes.bar_size
    left join sessions on dated.trade_date = sessions.session_date

)

select * from placed
