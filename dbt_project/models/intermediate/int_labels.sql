{#- The labels, the only columns that look forward: for every h in var
    label_horizons, what a decision on the bar's close earns when filled on the
    next bar at var label_price and held h bars (label_fwd_return_<h>), its
    direction outside var label_dead_band, and its rank and excess among the
    symbols at the same timestamp. -#}

{%- set horizons = label_horizons() %}
{%- set price = var('label_price') %}
{%- set band = var('label_dead_band') %}
{%- if price not in ('open', 'close') %}
    {{- exceptions.raise_compiler_error(
        "var label_price must be 'open' (fills at the next open) or 'close' "
        ~ "(at the next close), got " ~ price
    ) }}
{%- endif %}
{%- if band is not number or band < 0 %}
    {{- exceptions.raise_compiler_error(
        "var label_dead_band must be a number >= 0, got " ~ band
    ) }}
{%- endif %}

with

bars as (

    -- the last bars already written get their labels once their future bars
    -- arrive
    {{ bars_to_compute(ref('int_bars')) }}

),

forward as (

    -- what a decision on this bar's close earns: filled on the next bar at
    -- label_price, held h bars (the backtests fill there too; a close-to-close
    -- label would credit the overnight gap no strategy deciding at the close
    -- can trade). Adjusted prices: a total return, dividends in, splits no
    -- move.
    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        ingested_at,
        {%- for h in horizons %}
            lead({{ price }}, {{ h + 1 }}) {{ series_order() }}
            / lead({{ price }}, 1) {{ series_order() }} - 1
                as label_fwd_return_{{ h }},
        {%- endfor %}
        write_from_seq
    from bars

),

cross_sectional as (

    -- each forward return against the other symbols' at the same timestamp:
    -- its percentile rank among them (ties share their average rank; 0
    -- lowest, 1 highest) and its excess over their mean; null where fewer than
    -- two symbols have one
    select
        symbol,
        bar_size,
        ts,
        bar_seq,
        ingested_at,
        {%- for h in horizons %}
            {%- set r = 'label_fwd_return_' ~ h %}
            {%- set n = 'count(' ~ r ~ ') over same_time' %}
            {%- set ranked -%}
                over (
                    partition by bar_size, ts, {{ r }} is null order by {{ r }}
                )
            {%- endset %}
            {{ r }},
            -- no direction inside the dead band, nor for an exact zero (a flat
            -- bar is not a down move)
            case
                when {{ r }} > {{ band }} then 1
                when {{ r }} < -{{ band }} then 0
            end as label_direction_{{ h }},
            case
                when {{ r }} is not null and {{ n }} >= 2
                    then (
                        rank() {{ ranked }}
                        + cume_dist() {{ ranked }} * {{ n }}
                        - 2
                    ) / (2.0 * ({{ n }} - 1))
            end as label_xs_rank_{{ h }},
            case
                when {{ n }} >= 2 then {{ r }} - avg({{ r }}) over same_time
            end as label_xs_excess_{{ h }},
        {%- endfor %}
        write_from_seq
    from forward
    window same_time as (partition by bar_size, ts)

)

select {{ feature_columns() }}
from cross_sectional
{{ rows_to_write() }}
