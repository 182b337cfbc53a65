{#- Bars a label reads past its decision bar: the fill on bar t+1 and h bars after it
    (label_fwd_return_h = price(t+1+h) / price(t+1) - 1), so the last h + 1 bars of a series
    have no label yet and an incremental build rewrites them when their future arrives. -#}
{% macro label_lookahead_bars() -%}
    {%- set h = var('label_horizon') -%}
    {%- if h is not number or h < 1 -%}
        {{ exceptions.raise_compiler_error("var label_horizon must be a whole number of bars >= 1, got " ~ h) }}
    {%- endif -%}
    {{ return(h + 1) }}
{%- endmacro %}
