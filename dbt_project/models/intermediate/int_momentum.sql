{#- Oscillators: RSI (Wilder), Stochastic slow %K/%D, Williams %R, CCI, ROC,
    MFI, ADX with +DI/-DI. Each follows TA-Lib's definition, including its
    answer (0) when a range is zero. -#}

{%- set stoch_k = var('stoch_fastk') %}
{%- set slow_k = var('stoch_slowk') %}
{%- set slow_d = var('stoch_slowd') %}
{%- set willr_n = var('willr_window') %}
{%- set cci_n = var('cci_window') %}
{%- set roc_n = var('roc_window') %}
{%- set mfi_n = var('mfi_window') %}
{%- set adx_n = var('adx_window') %}

with

bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

smoothing as (

    {{ rows_from_first_bar(ref('int_smoothing')) }}

),

typical as (

    select
        *,
        (high + low + close) / 3 as typical_price,
        lag((high + low + close) / 3) {{ series_order() }}
            as previous_typical_price
    from bars

),

flows as (

    select
        *,
        -- MFI counts a bar's flow as in or out by comparing typical prices;
        -- prices are decimals, and two equal sums of three of them can differ
        -- by a rounding error in floating point, so a move under 1e-9 of the
        -- price is a tie (no flow), as TA-Lib finds
        case
            when typical_price - previous_typical_price > 1e-9 * close
                then typical_price * volume
            else 0
        end as money_in,
        case
            when typical_price - previous_typical_price < -1e-9 * close
                then typical_price * volume
            else 0
        end as money_out
    from typical

),

ranges as (

    select
        *,
        max(high) {{ last_bars(stoch_k) }} as stoch_high,
        min(low) {{ last_bars(stoch_k) }} as stoch_low,
        max(high) {{ last_bars(willr_n) }} as willr_high,
        min(low) {{ last_bars(willr_n) }} as willr_low,
        {{ rolling('avg(typical_price)', cci_n) }} as typical_price_sma,
        -- MFI: typical price x volume, inflow on an up move, outflow on a down
        {{ rolling('sum(money_in)', mfi_n, first_bar=1) }} as money_inflow,
        {{ rolling('sum(money_out)', mfi_n, first_bar=1) }} as money_outflow,
        lag(close, {{ roc_n }}) {{ series_order() }} as close_roc_ago
    from flows

),

positions as (

    select
        *,
        -- Stochastic: where the close sits in the range of the last k bars, in
        -- percent
        case
            when bar_seq < {{ stoch_k - 1 }} then null
            when stoch_high - stoch_low = 0 then 0
            else (close - stoch_low) / ((stoch_high - stoch_low) / 100.0)
        end as stoch_fast_k,
        -- Williams %R: the same position measured down from the high, -100..0
        case
            when bar_seq < {{ willr_n - 1 }} then null
            when willr_high - willr_low = 0 then 0
            else (willr_high - close) / ((willr_high - willr_low) / -100.0)
        end as willr
    from ranges

),

stochastic as (

    select
        *,
        case
            when bar_seq >= {{ stoch_k + slow_k - 2 }}
                then avg(stoch_fast_k) {{ last_bars(slow_k) }}
        end as stoch_k
    from positions

),

oscillators as (

    select
        *,
        case
            when bar_seq >= {{ stoch_k + slow_k + slow_d - 3 }}
                then avg(stoch_k) {{ last_bars(slow_d) }}
        end as stoch_d,
        -- CCI's mean deviation is around today's average, so it needs the last
        -- n typical prices themselves: n lags, not a running aggregate
        case
            when bar_seq >= {{ cci_n - 1 }}
                then (
                    {%- for k in range(cci_n) %}
                        {{ "+ " if not loop.first }}abs(
                            lag(typical_price, {{ k }}) {{ series_order() }}
                            - typical_price_sma
                        )
                    {%- endfor %}
                ) / {{ cci_n }}
        end as typical_price_mean_deviation
    from stochastic

),

indicators as (

    select
        oscillators.symbol,
        oscillators.bar_size,
        oscillators.ts,
        oscillators.bar_seq,
        oscillators.ingested_at,
        oscillators.write_from_seq,
        case
            when smoothing.avg_gain + smoothing.avg_loss = 0 then 0
            else
                100.0 * (
                    smoothing.avg_gain
                    / (smoothing.avg_gain + smoothing.avg_loss)
                )
        end as rsi,
        oscillators.stoch_k,
        oscillators.stoch_d,
        oscillators.willr,
        case
            when oscillators.typical_price_mean_deviation is null then null
            when
                oscillators.typical_price - oscillators.typical_price_sma = 0
                or oscillators.typical_price_mean_deviation = 0
                then 0
            else
                (oscillators.typical_price - oscillators.typical_price_sma)
                / (0.015 * oscillators.typical_price_mean_deviation)
        end as cci,
        case
            when oscillators.close_roc_ago = 0 then 0
            else ((oscillators.close / oscillators.close_roc_ago) - 1.0) * 100.0
        end as roc,
        case
            when oscillators.money_inflow is null then null
            when
                oscillators.money_inflow + oscillators.money_outflow < 1.0
                then 0
            else
                100.0 * (
                    oscillators.money_inflow
                    / (oscillators.money_inflow + oscillators.money_outflow)
                )
        end as mfi,
        smoothing.adx,
        case
            when oscillators.bar_seq >= {{ adx_n }}
                then coalesce(100.0 * {{ safe_div(
                    'smoothing.plus_dm_sum', 'smoothing.adx_tr_sum'
                ) }}, 0)
        end as plus_di,
        case
            when oscillators.bar_seq >= {{ adx_n }}
                then coalesce(100.0 * {{ safe_div(
                    'smoothing.minus_dm_sum', 'smoothing.adx_tr_sum'
                ) }}, 0)
        end as minus_di
    from oscillators
    inner join smoothing
        on
            oscillators.symbol = smoothing.symbol
            and oscillators.bar_size = smoothing.bar_size
            and oscillators.ts = smoothing.ts

)

select {{ feature_columns() }}
from indicators
{{ rows_to_write() }}
