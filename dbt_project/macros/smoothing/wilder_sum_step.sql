{#- wilder_sum_step: one step of Wilder's n-bar running sum (ADX's +DM, -DM and
    true-range sums),
        sum[t] = sum[t-1] - sum[t-1] / n + x[t],
    in TA-Lib's order of operations. prev and x are SQL expressions. -#}
{% macro wilder_sum_step(prev, x, n) -%}
    {{ return(adapter.dispatch('wilder_sum_step', 'alphaduck')(prev, x, n)) }}
{%- endmacro %}

{% macro default__wilder_sum_step(prev, x, n) -%}
    ({{ prev }}) - (({{ prev }}) / {{ n }}) + ({{ x }})
{%- endmacro %}
