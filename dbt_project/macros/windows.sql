{#- Rolling windows over one series: a (symbol, bar_size) in bar order.
    Indicators run over the continuous bar sequence (they do not restart each session),
    as TA-Lib does over an array; only the session VWAP resets at each session open. -#}

{#- The window of the last n bars, this one included: bars <= t only, never later ones. -#}
{% macro last_bars(n) -%}
    over (partition by symbol, bar_size order by bar_seq rows between {{ n - 1 }} preceding and current row)
{%- endmacro %}

{#- The whole series so far. -#}
{% macro series_so_far() -%}
    over (partition by symbol, bar_size order by bar_seq rows between unbounded preceding and current row)
{%- endmacro %}

{#- The session so far: from its first bar to this one. -#}
{% macro session_so_far() -%}
    over (partition by symbol, bar_size, session_date order by bar_seq rows between unbounded preceding and current row)
{%- endmacro %}

{#- Bar order within a series (for lag / lead). -#}
{% macro series_order() -%}
    over (partition by symbol, bar_size order by bar_seq)
{%- endmacro %}

{#- agg over the last n bars, null until the series has them all. An input that needs the
    previous bar (a return, a move) has its first value at bar 1: pass first_bar=1. -#}
{% macro rolling(agg, n, first_bar=0) -%}
    case when bar_seq >= {{ n - 1 + first_bar }} then {{ agg }} {{ last_bars(n) }} end
{%- endmacro %}

{#- x divided by y; null instead of an error or infinity when y is 0. -#}
{% macro safe_div(x, y) -%}
    ({{ x }}) / nullif({{ y }}, 0)
{%- endmacro %}
