{#- rows_from_first_bar: the rows of `relation` (keyed by symbol, bar_size, ts)
    from the first bar of `bars` (a model's bars_to_compute CTE) on: all a
    model can join to its bars. Every row in a full build; in an incremental
    one it keeps the whole history out of the join (on 5M bars, fct_features'
    incremental query took 4.3 s with int_smoothing joined in full, 3.0 s
    without). -#}
{% macro rows_from_first_bar(relation, bars='bars') -%}
    {{ return(adapter.dispatch('rows_from_first_bar', 'alphaduck')(relation, bars)) }}
{%- endmacro %}

{% macro default__rows_from_first_bar(relation, bars) -%}
    select * from {{ relation }}
    where ts >= (select min(ts) from {{ bars }})
{%- endmacro %}
