{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['symbol', 'bar_size', 'ts'],
    on_schema_change='fail',
) }}

{#- The recursive indicators: exponential (EMA) and Wilder smoothing, seeded exactly as
    TA-Lib seeds them, in one recursive pass over each series (DuckDB runs one recursion
    step per bar for all series at once, so one pass with many states beats many passes).

    Every state s follows the same pattern at bar i of the series:
        i <  seed_at   null (not enough bars yet)
        i =  seed_at   the seed: a plain average (or sum) of the first values
        i >  seed_at   s[i-1] smoothed towards today's value
    The step formulas keep TA-Lib's order of operations, so values agree to the last bits.
    int_trend, int_momentum and int_volatility turn these states into indicators. -#}

{%- set ema_n = var('ema_window') %}
{%- set fast = var('macd_fast') %}
{%- set slow = var('macd_slow') %}
{%- set signal = var('macd_signal') %}
{%- set rsi_n = var('rsi_window') %}
{%- set atr_n = var('atr_window') %}
{%- set adx_n = var('adx_window') %}
{%- for name, n in [('ema_window', ema_n), ('macd_fast', fast), ('macd_signal', signal),
                     ('rsi_window', rsi_n), ('atr_window', atr_n), ('adx_window', adx_n)] %}
    {%- if n < 2 %}{{ exceptions.raise_compiler_error("var " ~ name ~ " must be at least 2, got " ~ n) }}{% endif %}
{%- endfor %}
{%- if slow <= fast %}{{ exceptions.raise_compiler_error("var macd_slow must exceed macd_fast") }}{% endif %}

with recursive bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

moves as (

    select
        symbol, bar_size, ts, bar_seq, write_from_seq, ingested_at, high, low, close,
        -- position within the bars read: recursion seeds count from the first of them
        bar_seq - min(bar_seq) over (partition by symbol, bar_size) as i,
        lag(close) {{ series_order() }} as prev_close,
        high - lag(high) {{ series_order() }} as up_move,
        lag(low) {{ series_order() }} - low as down_move
    from bars

),

inputs as (

    select
        *,
        -- RSI: the bar's gain or loss against the previous close
        case when close - prev_close < 0 then 0 else close - prev_close end as gain,
        case when close - prev_close < 0 then prev_close - close else 0 end as loss,
        -- true range: the bar's range widened to the previous close
        greatest(high - low, abs(high - prev_close), abs(low - prev_close)) as true_range,
        -- directional movement (ADX): only the larger of the two moves counts
        case when down_move > 0 and up_move < down_move then down_move else 0 end as minus_dm,
        case when up_move > 0 and up_move > down_move then up_move else 0 end as plus_dm
    from moves

),

seeded as (

    select
        *,
        avg(close) over (partition by symbol, bar_size order by i rows between {{ ema_n - 1 }} preceding and current row) as ema_seed,
        avg(close) over (partition by symbol, bar_size order by i rows between {{ fast - 1 }} preceding and current row) as ema_fast_seed,
        avg(close) over (partition by symbol, bar_size order by i rows between {{ slow - 1 }} preceding and current row) as ema_slow_seed,
        avg(gain) over (partition by symbol, bar_size order by i rows between {{ rsi_n - 1 }} preceding and current row) as avg_gain_seed,
        avg(loss) over (partition by symbol, bar_size order by i rows between {{ rsi_n - 1 }} preceding and current row) as avg_loss_seed,
        avg(true_range) over (partition by symbol, bar_size order by i rows between {{ atr_n - 1 }} preceding and current row) as atr_seed,
        -- ADX starts from sums over its first n - 1 moves (TA-Lib), not averages
        sum(plus_dm) over (partition by symbol, bar_size order by i rows between {{ adx_n - 2 }} preceding and current row) as plus_dm_seed,
        sum(minus_dm) over (partition by symbol, bar_size order by i rows between {{ adx_n - 2 }} preceding and current row) as minus_dm_seed,
        sum(true_range) over (partition by symbol, bar_size order by i rows between {{ adx_n - 2 }} preceding and current row) as adx_tr_seed
    from inputs

),

smoothed as (

    -- first bar of every series: nothing is seeded yet
    select
        symbol, bar_size, i,
        cast(null as double) as ema,
        cast(null as double) as ema_fast,
        cast(null as double) as ema_slow,
        cast(null as double) as macd_sum,      -- running sum of the MACD line until the signal is seeded
        cast(null as double) as macd_signal,
        cast(null as double) as avg_gain,
        cast(null as double) as avg_loss,
        cast(null as double) as atr,
        cast(null as double) as plus_dm_sum,
        cast(null as double) as minus_dm_sum,
        cast(null as double) as adx_tr_sum,
        cast(null as double) as dx_sum,        -- running sum of DX until the ADX is seeded
        cast(null as double) as adx
    from seeded
    where i = 0

    union all

    select
        prev.symbol, prev.bar_size, bar.i,

        -- EMA(n): seeded with the SMA of the first n closes, then k = 2 / (n + 1)
        case
            when bar.i < {{ ema_n - 1 }} then null
            when bar.i = {{ ema_n - 1 }} then bar.ema_seed
            else ((bar.close - prev.ema) * (2.0 / {{ ema_n + 1 }})) + prev.ema
        end,

        -- MACD's two EMAs both start at bar slow - 1 (TA-Lib aligns them there: the fast
        -- one is seeded with the SMA of the `fast` closes ending at that bar)
        case
            when bar.i < {{ slow - 1 }} then null
            when bar.i = {{ slow - 1 }} then bar.ema_fast_seed
            else ((bar.close - prev.ema_fast) * (2.0 / {{ fast + 1 }})) + prev.ema_fast
        end,
        case
            when bar.i < {{ slow - 1 }} then null
            when bar.i = {{ slow - 1 }} then bar.ema_slow_seed
            else ((bar.close - prev.ema_slow) * (2.0 / {{ slow + 1 }})) + prev.ema_slow
        end,

        -- MACD signal: EMA(signal) of the MACD line, seeded with its SMA over `signal` bars
        case
            when bar.i < {{ slow - 1 }} or bar.i >= {{ slow + signal - 2 }} then null
            when bar.i = {{ slow - 1 }} then bar.ema_fast_seed - bar.ema_slow_seed
            else prev.macd_sum
                + ((((bar.close - prev.ema_fast) * (2.0 / {{ fast + 1 }})) + prev.ema_fast)
                   - (((bar.close - prev.ema_slow) * (2.0 / {{ slow + 1 }})) + prev.ema_slow))
        end,
        case
            when bar.i < {{ slow + signal - 2 }} then null
            {%- if signal > 1 %}
            when bar.i = {{ slow + signal - 2 }} then
                (prev.macd_sum
                 + ((((bar.close - prev.ema_fast) * (2.0 / {{ fast + 1 }})) + prev.ema_fast)
                    - (((bar.close - prev.ema_slow) * (2.0 / {{ slow + 1 }})) + prev.ema_slow))) / {{ signal }}
            {%- endif %}
            else ((((((bar.close - prev.ema_fast) * (2.0 / {{ fast + 1 }})) + prev.ema_fast)
                    - (((bar.close - prev.ema_slow) * (2.0 / {{ slow + 1 }})) + prev.ema_slow))
                   - prev.macd_signal) * (2.0 / {{ signal + 1 }})) + prev.macd_signal
        end,

        -- RSI: Wilder's average gain and loss over n moves
        case
            when bar.i < {{ rsi_n }} then null
            when bar.i = {{ rsi_n }} then bar.avg_gain_seed
            else (prev.avg_gain * {{ rsi_n - 1 }} + bar.gain) / {{ rsi_n }}
        end,
        case
            when bar.i < {{ rsi_n }} then null
            when bar.i = {{ rsi_n }} then bar.avg_loss_seed
            else (prev.avg_loss * {{ rsi_n - 1 }} + bar.loss) / {{ rsi_n }}
        end,

        -- ATR: Wilder's average of the true range
        case
            when bar.i < {{ atr_n }} then null
            when bar.i = {{ atr_n }} then bar.atr_seed
            else (prev.atr * {{ atr_n - 1 }} + bar.true_range) / {{ atr_n }}
        end,

        -- ADX: Wilder's running sums of +DM, -DM and true range ...
        case
            when bar.i < {{ adx_n - 1 }} then null
            when bar.i = {{ adx_n - 1 }} then bar.plus_dm_seed
            else prev.plus_dm_sum - (prev.plus_dm_sum / {{ adx_n }}) + bar.plus_dm
        end,
        case
            when bar.i < {{ adx_n - 1 }} then null
            when bar.i = {{ adx_n - 1 }} then bar.minus_dm_seed
            else prev.minus_dm_sum - (prev.minus_dm_sum / {{ adx_n }}) + bar.minus_dm
        end,
        case
            when bar.i < {{ adx_n - 1 }} then null
            when bar.i = {{ adx_n - 1 }} then bar.adx_tr_seed
            else prev.adx_tr_sum - (prev.adx_tr_sum / {{ adx_n }}) + bar.true_range
        end,
        -- ... whose DX is summed over n bars to seed the ADX, then Wilder-smoothed
        -- (a bar whose DX is undefined, no range or no movement, leaves the ADX as it was)
        case
            when bar.i < {{ adx_n }} or bar.i >= {{ 2 * adx_n - 1 }} then null
            else coalesce(prev.dx_sum, 0) + coalesce({{ adx_dx('prev', 'bar', adx_n) }}, 0)
        end,
        case
            when bar.i < {{ 2 * adx_n - 1 }} then null
            when bar.i = {{ 2 * adx_n - 1 }} then (prev.dx_sum + coalesce({{ adx_dx('prev', 'bar', adx_n) }}, 0)) / {{ adx_n }}
            else coalesce((prev.adx * {{ adx_n - 1 }} + {{ adx_dx('prev', 'bar', adx_n) }}) / {{ adx_n }}, prev.adx)
        end

    from smoothed as prev
    inner join seeded as bar
        on bar.symbol = prev.symbol
        and bar.bar_size = prev.bar_size
        and bar.i = prev.i + 1

)

select
    seeded.symbol,
    seeded.bar_size,
    seeded.ts,
    seeded.bar_seq,
    seeded.ingested_at,
    smoothed.ema,
    smoothed.ema_fast,
    smoothed.ema_slow,
    smoothed.macd_signal,
    smoothed.avg_gain,
    smoothed.avg_loss,
    smoothed.atr,
    smoothed.plus_dm_sum,
    smoothed.minus_dm_sum,
    smoothed.adx_tr_sum,
    smoothed.adx
from seeded
inner join smoothed
    on smoothed.symbol = seeded.symbol
    and smoothed.bar_size = seeded.bar_size
    and smoothed.i = seeded.i
{{ rows_to_write("seeded") }}
