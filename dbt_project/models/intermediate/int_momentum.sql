-- Oscillators: RSI (Wilder), Stochastic slow %K/%D, Williams %R, CCI, ROC, MFI, ADX with
-- +DI/-DI. Each follows TA-Lib's definition, including its answer (0) when a range is zero.

{%- set stoch_k = var('stoch_fastk') %}
{%- set slow_k = var('stoch_slowk') %}
{%- set slow_d = var('stoch_slowd') %}
{%- set willr_n = var('willr_window') %}
{%- set cci_n = var('cci_window') %}
{%- set roc_n = var('roc_window') %}
{%- set mfi_n = var('mfi_window') %}
{%- set adx_n = var('adx_window') %}

with bars as (

    {{ bars_to_compute(ref('int_bars')) }}

),

smoothing as (

    select * from {{ ref('int_smoothing') }}

),

typical as (

    select
        *,
        (high + low + close) / 3 as typical_price,
        -- MFI counts a bar's flow as in or out by comparing typical prices; prices are
        -- decimals, and two equal sums of three of them can differ by a rounding error in
        -- floating point, so a move under 1e-9 of the price is a tie (no flow), as TA-Lib finds
        case
            when (high + low + close) / 3 - lag((high + low + close) / 3) {{ series_order() }} > 1e-9 * close then 1
            when (high + low + close) / 3 - lag((high + low + close) / 3) {{ series_order() }} < -1e-9 * close then -1
            else 0
        end as typical_price_move
    from bars

),

ranges as (

    select
        *,
        -- Stochastic: where the close sits in the range of the last k bars, in percent
        case when bar_seq >= {{ stoch_k - 1 }} then
            case
                when max(high) {{ last_bars(stoch_k) }} - min(low) {{ last_bars(stoch_k) }} = 0 then 0
                else (close - min(low) {{ last_bars(stoch_k) }})
                    / ((max(high) {{ last_bars(stoch_k) }} - min(low) {{ last_bars(stoch_k) }}) / 100.0)
            end
        end as stoch_fast_k,
        -- Williams %R: the same position measured down from the high, -100..0
        case when bar_seq >= {{ willr_n - 1 }} then
            case
                when max(high) {{ last_bars(willr_n) }} - min(low) {{ last_bars(willr_n) }} = 0 then 0
                else (max(high) {{ last_bars(willr_n) }} - close)
                    / ((max(high) {{ last_bars(willr_n) }} - min(low) {{ last_bars(willr_n) }}) / -100.0)
            end
        end as willr,
        {{ rolling('avg(typical_price)', cci_n) }} as typical_price_sma,
        -- MFI: typical price x volume, counted as inflow on an up move, outflow on a down move
        {{ rolling('sum(case when typical_price_move > 0 then typical_price * volume else 0 end)', mfi_n, first_bar=1) }} as money_inflow,
        {{ rolling('sum(case when typical_price_move < 0 then typical_price * volume else 0 end)', mfi_n, first_bar=1) }} as money_outflow,
        lag(close, {{ roc_n }}) {{ series_order() }} as close_roc_ago
    from typical

),

stochastic as (

    select
        *,
        case when bar_seq >= {{ stoch_k + slow_k - 2 }} then avg(stoch_fast_k) {{ last_bars(slow_k) }} end as stoch_k
    from ranges

),

oscillators as (

    select
        *,
        case when bar_seq >= {{ stoch_k + slow_k + slow_d - 3 }} then avg(stoch_k) {{ last_bars(slow_d) }} end as stoch_d,
        -- CCI's mean deviation is around today's average, so it needs the last n typical
        -- prices themselves: n lags, not a running aggregate
        case when bar_seq >= {{ cci_n - 1 }} then (
            {%- for k in range(cci_n) %}
            abs(lag(typical_price, {{ k }}) {{ series_order() }} - typical_price_sma){% if not loop.last %} +{% endif %}
            {%- endfor %}
        ) / {{ cci_n }} end as typical_price_mean_deviation
    from stochastic

)

select
    oscillators.symbol,
    oscillators.bar_size,
    oscillators.ts,
    oscillators.bar_seq,
    oscillators.ingested_at,
    case
        when smoothing.avg_gain + smoothing.avg_loss = 0 then 0
        else 100.0 * (smoothing.avg_gain / (smoothing.avg_gain + smoothing.avg_loss))
    end as rsi,
    oscillators.stoch_k,
    oscillators.stoch_d,
    oscillators.willr,
    case
        when oscillators.typical_price_mean_deviation is null then null
        when oscillators.typical_price - oscillators.typical_price_sma = 0
            or oscillators.typical_price_mean_deviation = 0 then 0
        else (oscillators.typical_price - oscillators.typical_price_sma)
            / (0.015 * oscillators.typical_price_mean_deviation)
    end as cci,
    case
        when oscillators.close_roc_ago = 0 then 0
        else ((oscillators.close / oscillators.close_roc_ago) - 1.0) * 100.0
    end as roc,
    case
        when oscillators.money_inflow is null then null
        when oscillators.money_inflow + oscillators.money_outflow < 1.0 then 0
        else 100.0 * (oscillators.money_inflow / (oscillators.money_inflow + oscillators.money_outflow))
    end as mfi,
    smoothing.adx,
    case when oscillators.bar_seq >= {{ adx_n }} then
        coalesce(100.0 * (smoothing.plus_dm_sum / nullif(smoothing.adx_tr_sum, 0)), 0)
    end as plus_di,
    case when oscillators.bar_seq >= {{ adx_n }} then
        coalesce(100.0 * (smoothing.minus_dm_sum / nullif(smoothing.adx_tr_sum, 0)), 0)
    end as minus_di
from oscillators
inner join smoothing
    on smoothing.symbol = oscillators.symbol
    and smoothing.bar_size = oscillators.bar_size
    and smoothing.ts = oscillators.ts
{{ rows_to_write("oscillators") }}
