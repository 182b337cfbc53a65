{#- DX of a bar inside int_smoothing's recursion: from the previous bar's Wilder sums
    (prev) and this bar's moves (bar), as TA-Lib computes it. Null when the true-range sum
    or the sum of the two DIs is zero (TA-Lib then skips the bar). -#}
{% macro adx_dx(prev, bar, n) -%}
    {%- set plus_dm = prev ~ ".plus_dm_sum - (" ~ prev ~ ".plus_dm_sum / " ~ n ~ ") + " ~ bar ~ ".plus_dm" -%}
    {%- set minus_dm = prev ~ ".minus_dm_sum - (" ~ prev ~ ".minus_dm_sum / " ~ n ~ ") + " ~ bar ~ ".minus_dm" -%}
    {%- set tr = prev ~ ".adx_tr_sum - (" ~ prev ~ ".adx_tr_sum / " ~ n ~ ") + " ~ bar ~ ".true_range" -%}
    {{ dx_from_sums(plus_dm, minus_dm, tr) }}
{%- endmacro %}

{#- DX = 100 * |+DI - -DI| / (+DI + -DI), DI = 100 * DM sum / true-range sum. -#}
{% macro dx_from_sums(plus_dm, minus_dm, tr) -%}
    (100.0 * (abs((100.0 * (({{ minus_dm }}) / nullif({{ tr }}, 0))) - (100.0 * (({{ plus_dm }}) / nullif({{ tr }}, 0))))
        / nullif((100.0 * (({{ minus_dm }}) / nullif({{ tr }}, 0))) + (100.0 * (({{ plus_dm }}) / nullif({{ tr }}, 0))), 0)))
{%- endmacro %}
