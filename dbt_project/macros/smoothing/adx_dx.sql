{#- adx_dx: DX of a bar inside int_smoothing's recursion, from the previous
    bar's Wilder sums (relation prev: plus_dm_sum, minus_dm_sum, adx_tr_sum)
    stepped by this bar's moves (relation bar: plus_dm, minus_dm, true_range),
    as TA-Lib computes it. Null when TA-Lib skips the bar (see dx_from_sums).
    -#}
{% macro adx_dx(prev, bar, n) -%}
    {{ return(adapter.dispatch('adx_dx', 'alphaduck')(prev, bar, n)) }}
{%- endmacro %}

{% macro default__adx_dx(prev, bar, n) -%}
    {{ dx_from_sums(
        wilder_sum_step(prev ~ '.plus_dm_sum', bar ~ '.plus_dm', n),
        wilder_sum_step(prev ~ '.minus_dm_sum', bar ~ '.minus_dm', n),
        wilder_sum_step(prev ~ '.adx_tr_sum', bar ~ '.true_range', n)
    ) }}
{%- endmacro %}
