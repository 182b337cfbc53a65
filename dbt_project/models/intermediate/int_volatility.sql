{#- Volatility: ATR (Wilder) and NATR, Bollinger bands with %B and bandwidth,
    the rolling standard deviation of 1-bar returns, and the Parkinson and
    Garman-Klass range estimators. The last three are per bar (not annualised):
    multiply by sqrt(bars per year) to annualise. -#}

{%- set bb_n = var('bbands_window') %}
{%- set nbdev = var('bbands_nbdev') %}
{%- set vol_n = var('volatility_window') %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

smoothing as (

    {{ rows_from_first_bar(ref('int_smoothing')) }}

),

ranges as (

    select
        *,
        close / lag(close) {{ series_order() }} - 1 as ret_1,
        ln(high / low) as log_high_low,
        ln(close / open) as log_close_open
    from bars

),

squares as (

    select
        *,
        log_high_low * log_high_low as parkinson_term,
        0.5 * log_high_low * log_high_low
        - (2 * ln(2) - 1) * log_close_open * log_close_open
            as garman_klass_term
    from ranges

),

windows as (

    select
        *,
        -- Bollinger: the SMA +- nbdev population standard deviations (TA-Lib)
        {{ rolling('avg(close)', bb_n) }} as bb_middle,
        {{ rolling('stddev_pop(close)', bb_n) }} as bb_stddev,
        {{ rolling('stddev_samp(ret_1)', vol_n, first_bar=1) }} as ret_std,
        -- Parkinson: sqrt(mean(ln(H/L)^2) / (4 ln 2))
        sqrt(
            {{ rolling('avg(parkinson_term)', vol_n) }} / (4 * ln(2))
        ) as parkinson_vol,
        -- Garman-Klass: sqrt(mean(0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2))
        sqrt(
            {{ rolling('avg(garman_klass_term)', vol_n) }}
        ) as garman_klass_vol
    from squares

),

indicators as (

    select
        windows.symbol,
        windows.bar_size,
        windows.ts,
        windows.bar_seq,
        windows.ingested_at,
        windows.write_from_seq,
        smoothing.atr,
        case
            when smoothing.atr is null then null
            when windows.close = 0 then 0
            else (smoothing.atr / windows.close) * 100.0
        end as natr,
        windows.bb_middle + {{ nbdev }} * windows.bb_stddev as bb_upper,
        windows.bb_middle,
        windows.bb_middle - {{ nbdev }} * windows.bb_stddev as bb_lower,
        -- %B: where the close sits between the bands (0 = lower, 1 = upper);
        -- 0.5 on a flat window
        case
            when windows.bb_stddev = 0 then 0.5
            else
                (
                    windows.close
                    - (windows.bb_middle - {{ nbdev }} * windows.bb_stddev)
                )
                / (2 * {{ nbdev }} * windows.bb_stddev)
        end as bb_pct_b,
        -- bandwidth: the width of the bands relative to the middle
        {{ safe_div(
            '2 * ' ~ nbdev ~ ' * windows.bb_stddev', 'windows.bb_middle'
        ) }} as bb_bandwidth,
        windows.ret_std,
        windows.parkinson_vol,
        windows.garman_klass_vol
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
