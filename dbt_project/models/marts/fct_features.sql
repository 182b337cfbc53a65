{#- One row per (symbol, bar_size, ts): the bar (adjusted), every indicator and Alpha158
    feature (all computed from bars <= ts), the warm-up flag, and the labels, the only
    columns that look forward. Training reads this table; analysts query it. -#}

{#- a changed label_horizons adds or drops label columns: sync them (every row is recomputed then) -#}
{{ config(post_hook="{{ record_feature_vars() }}", on_schema_change='sync_all_columns') }}

{%- set horizons = label_horizons() %}
{%- set price = var('label_price') %}
{%- set band = var('label_dead_band') %}
{%- if price not in ('open', 'close') %}
    {{- exceptions.raise_compiler_error("var label_price must be 'open' (fills at the next open) or 'close' (at the next close), got " ~ price) }}
{%- endif %}
{%- if band is not number or band < 0 %}
    {{- exceptions.raise_compiler_error("var label_dead_band must be a number >= 0, got " ~ band) }}
{%- endif %}
{%- set parts = ['int_returns', 'int_trend', 'int_momentum', 'int_volatility', 'int_volume', 'int_calendar', 'int_alpha158'] %}
{%- set key_columns = ['symbol', 'bar_size', 'ts', 'bar_seq', 'ingested_at'] %}

with

bars as (

    -- the last bars already written get their labels once their future bars arrive
    {{ bars_to_compute(ref('int_bars')) }}

),

labelled as (

    -- what a decision on this bar's close earns: filled on the next bar at label_price,
    -- held h bars (the backtests fill there too; a close-to-close label would credit the
    -- overnight gap no strategy deciding at the close can trade). Adjusted prices: a
    -- total return, dividends in, splits no move.
    select
        *,
        {%- for h in horizons %}
        lead({{ price }}, {{ h + 1 }}) {{ series_order() }}
            / lead({{ price }}, 1) {{ series_order() }} - 1 as label_fwd_return_{{ h }}{{ "," if not loop.last }}
        {%- endfor %}
    from bars

),

cross_sectional as (

    -- each forward return against the other symbols' at the same timestamp: its
    -- percentile rank among them (ties share their average rank; 0 lowest, 1 highest) and
    -- its excess over their mean; null where fewer than two symbols have one
    select
        *,
        {%- for h in horizons %}
        {%- set r = 'label_fwd_return_' ~ h %}
        case when {{ r }} is not null and count({{ r }}) over same_time >= 2 then
            (rank() over (partition by bar_size, ts, {{ r }} is null order by {{ r }})
             + cume_dist() over (partition by bar_size, ts, {{ r }} is null order by {{ r }})
               * count({{ r }}) over same_time
             - 2) / (2.0 * (count({{ r }}) over same_time - 1))
        end as label_xs_rank_{{ h }},
        case when count({{ r }}) over same_time >= 2 then
            {{ r }} - avg({{ r }}) over same_time
        end as label_xs_excess_{{ h }}{{ "," if not loop.last }}
        {%- endfor %}
    from labelled
    window same_time as (partition by bar_size, ts)

)

select
    cross_sectional.symbol,
    cross_sectional.bar_size,
    cross_sectional.ts,
    cross_sectional.bar_seq,
    cross_sectional.session_date,
    cross_sectional.open,
    cross_sectional.high,
    cross_sectional.low,
    cross_sectional.close,
    cross_sectional.volume,
    cross_sectional.price_factor,
    cross_sectional.ingested_at,
    -- warm: every window full, recursive indicators settled, and a whole previous session
    -- behind the bar (its session gap is known)
    cross_sectional.bar_seq >= {{ var('warmup_bars') }}
        and int_calendar.session_gap is not null as warmup_complete,
    {%- for part in parts %}
    {%- for column in documented_columns(part) if column not in key_columns %}
    {{ part }}.{{ column }},
    {%- endfor %}
    {%- endfor %}
    {%- for h in horizons %}
    cross_sectional.label_fwd_return_{{ h }},
    -- no direction inside the dead band, nor for an exact zero (a flat bar is not a down move)
    case
        when cross_sectional.label_fwd_return_{{ h }} > {{ band }} then 1
        when cross_sectional.label_fwd_return_{{ h }} < -{{ band }} then 0
    end as label_direction_{{ h }},
    cross_sectional.label_xs_rank_{{ h }},
    cross_sectional.label_xs_excess_{{ h }}{{ "," if not loop.last }}
    {%- endfor %}
from cross_sectional
{%- for part in parts %}
inner join {{ ref(part) }} as {{ part }}
    on {{ part }}.symbol = cross_sectional.symbol
    and {{ part }}.bar_size = cross_sectional.bar_size
    and {{ part }}.ts = cross_sectional.ts
{%- endfor %}
{{ rows_to_write('cross_sectional') }}
