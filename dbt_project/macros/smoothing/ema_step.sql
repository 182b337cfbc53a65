{#- ema_step: one step of an n-bar exponential moving average,
        ema[t] = (x[t] - ema[t-1]) * k + ema[t-1],   k = 2 / (n + 1),
    in TA-Lib's order of operations (so values agree to the last bits). prev and
    x are SQL expressions. -#}
{% macro ema_step(prev, x, n) -%}
    {{ return(adapter.dispatch('ema_step', 'alphaduck')(prev, x, n)) }}
{%- endmacro %}

{% macro default__ema_step(prev, x, n) -%}
    ((({{ x }}) - ({{ prev }})) * (2e0 / {{ n + 1 }})) + ({{ prev }})
{%- endmacro %}
