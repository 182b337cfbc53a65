{#- label_lookahead_bars: bars a label reads past its decision bar: the fill on
    bar t+1 and h bars after it (label_fwd_return_<h> = price(t+1+h) /
    price(t+1) - 1), for the longest horizon. The last that many bars of a
    series have no label yet, and an incremental build rewrites them when their
    future arrives. -#}
{% macro label_lookahead_bars() -%}
    {{ return(label_horizons() | max + 1) }}
{%- endmacro %}
