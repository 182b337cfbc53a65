{#- wilder_step: one step of Wilder's n-bar average (RSI's gains and losses,
    ATR),
        avg[t] = (avg[t-1] * (n - 1) + x[t]) / n,
    in TA-Lib's order of operations. prev and x are SQL expressions. -#}
{% macro wilder_step(prev, x, n) -%}
    {{ return(adapter.dispatch('wilder_step', 'alphaduck')(prev, x, n)) }}
{%- endmacro %}

{% macro default__wilder_step(prev, x, n) -%}
    (({{ prev }}) * {{ n - 1 }} + ({{ x }})) / {{ n }}
{%- endmacro %}
