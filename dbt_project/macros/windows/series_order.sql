{#- series_order: bar order within a series, for lag and lead. -#}
{% macro series_order() -%}
    {{ return(adapter.dispatch('series_order', 'alphaduck')()) }}
{%- endmacro %}

{% macro default__series_order() -%}
    over (partition by symbol, bar_size order by bar_seq)
{%- endmacro %}
