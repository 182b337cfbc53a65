{#- rolling: agg over the last n bars, null until the series has them all. An
    input that needs the previous bar (a return, a move) has its first value at
    bar 1: pass first_bar=1. -#}
{% macro rolling(agg, n, first_bar=0) -%}
    {{ return(adapter.dispatch('rolling', 'alphaduck')(agg, n, first_bar)) }}
{%- endmacro %}

{% macro default__rolling(agg, n, first_bar) -%}
    case
        when bar_seq >= {{ n - 1 + first_bar }}
            then {{ agg }} {{ last_bars(n) }}
    end
{%- endmacro %}
