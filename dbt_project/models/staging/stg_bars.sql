-- Every bar, typed, numbered within its series and placed in its exchange session.

with bars as (

    select * from {{ source('raw', 'bars') }}

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
        cast(bars.open as double) as open,
        cast(bars.high as double) as high,
        cast(bars.low as double) as low,
        cast(bars.close as double) as close,
        cast(bars.volume as double) as volume,
        cast(bars.wap as double) as wap,
        bars.bar_count,
        bar_sizes.bar_seconds,
        sessions.session_date,
        sessions.open_utc as session_open_utc,
        sessions.close_utc as session_close_utc,
        coalesce(sessions.is_early_close, false) as is_early_close,
        coalesce(bars.ts >= sessions.open_utc and bars.ts < sessions.close_utc, false) as is_regular_hours,
        bars.ingested_at
    from bars
    inner join bar_sizes on bars.bar_size = bar_sizes.bar_size
    left join sessions
        on sessions.session_date = {{ local_date('bars.ts', var('exchange_timezone')) }}

),

numbered as (

    select
        *,
        row_number() over (partition by symbol, bar_size order by ts) - 1 as bar_seq,
        row_number() over (partition by symbol, bar_size, session_date order by ts) - 1 as bar_in_session
    from placed

)

select
    *,
    min(bar_seq) over (partition by symbol, bar_size, session_date) as session_start_seq
from numbered
