{#- Moving averages and MACD: SMA, EMA and WMA of the close, MACD line, signal
    and histogram. EMA and the MACD's EMAs come from int_smoothing (recursive);
    SMA and WMA are windows. -#}

{%- set sma_n = var('sma_window') %}
{%- set wma_n = var('wma_window') %}
{%- set signal_from = var('macd_slow') + var('macd_signal') - 2 %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

smoothing as (

    {{ rows_from_first_bar(ref('int_smoothing')) }}

),

windows as (

    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        write_from_seq,
        ingested_at,
        {{ rolling('avg(close)', sma_n) }} as sma,
        -- WMA weighs the last n closes n, n-1, ..., 1:
        -- sum((bar_seq - (t - n)) * close), written as two window sums so it
        -- costs two passes, not n
        case
            when bar_seq >= {{ wma_n - 1 }}
                then (
                    sum(bar_seq * close) {{ last_bars(wma_n) }}
                    - (bar_seq - {{ wma_n }})
                    * sum(close) {{ last_bars(wma_n) }}
                ) / {{ wma_n * (wma_n + 1) / 2 }}
        end as wma
    from bars

),

indicators as (

    select
        windows.symbol,
        windows.bar_size,
        windows.ts,
        windows.bar_seq,
        windows.ingested_at,
        windows.write_from_seq,
        windows.sma,
        smoothing.ema,
        windows.wma,
        smoothing.ema_fast - smoothing.ema_slow as macd,
        smoothing.macd_signal,
        case
            when windows.bar_seq >= {{ signal_from }}
                then
                    (smoothing.ema_fast - smoothing.ema_slow)
                    - smoothing.macd_signal
        end as macd_hist
    from windows
    inner join smoothing
        on
            windows.symbol = smoothing.symbol
            and windows.bar_size = smoothing.bar_size
            and windows.ts = smoothing.ts

)

select {{ feature_columns() }}
from indicators
{{ rows_to_write() }}
