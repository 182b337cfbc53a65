{#- series_so_far: the whole series up to this bar. -#}
{% macro series_so_far() -%}
    {{ return(adapter.dispatch('series_so_far', 'alphaduck')()) }}
{%- endmacro %}

{% macro default__series_so_far() -%}
    over (
        partition by symbol, bar_size order by bar_seq
        rows between unbounded preceding and current row
    )
{%- endmacro %}
