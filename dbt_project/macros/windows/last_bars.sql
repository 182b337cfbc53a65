{#- last_bars: the window of the last n bars of a series (a symbol and bar size
    in bar order), this one included: bars <= t only, never later ones.
    Indicators run over the continuous bar sequence (they do not restart each
    session), as TA-Lib does over an array. -#}
{% macro last_bars(n) -%}
    {{ return(adapter.dispatch('last_bars', 'alphaduck')(n)) }}
{%- endmacro %}

{% macro default__last_bars(n) -%}
    over (
        partition by symbol, bar_size order by bar_seq
        rows between {{ n - 1 }} preceding and current row
    )
{%- endmacro %}
