{#- rolling_percentile_rank: percentile rank (0..1] of today's x among the last
    n bars, ties counted half, as scipy's percentileofscore(kind='rank') and
    Qlib's Rank: (count below + count equal / 2 + 1/2) / n, with today counted
    once as equal. Null until the series has n bars. -#}
{% macro rolling_percentile_rank(x, n) -%}
    {{ return(adapter.dispatch('rolling_percentile_rank', 'alphaduck')(x, n)) }}
{%- endmacro %}

{#- portable: compare today's value with each of the n - 1 before it -#}
{% macro default__rolling_percentile_rank(x, n) -%}
    case when bar_seq >= {{ n - 1 }} then (
        2 {%- for k in range(1, n) %}
        + case
            when lag({{ x }}, {{ k }}) {{ series_order() }} < {{ x }} then 2
            when lag({{ x }}, {{ k }}) {{ series_order() }} = {{ x }} then 1
            else 0
        end
        {%- endfor %}
    ) / {{ 2 * n }}e0 end
{%- endmacro %}

{#- DuckDB ranks within a window frame: rank = 1 + count below, cume_dist * n =
    count at or below -#}
{% macro duckdb__rolling_percentile_rank(x, n) -%}
    case when bar_seq >= {{ n - 1 }} then
        (
            rank(order by {{ x }}) {{ last_bars(n) }}
            + {{ n }} * cume_dist(order by {{ x }}) {{ last_bars(n) }}
        ) / {{ 2 * n }}e0
    end
{%- endmacro %}
