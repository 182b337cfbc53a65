{#- smoothing_memory_bars: how many bars back a recursive state still depends
    on, to `weight` (1e-12 unless given): seed_bars plus the bars after which
    the slowest of `decays` (per-bar factors, e.g. 1 - 2/(n+1) for an EMA,
    1 - 1/n for Wilder's smoothing) has shrunk a start's weight below it. -#}
{% macro smoothing_memory_bars(decays, seed_bars, weight=1e-12) -%}
    {%- set slowest = decays | max %}
    {%- set state = namespace(weight=1.0, bars=0) %}
    {%- for _ in range(100000) if state.weight >= weight %}
        {%- set state.weight = state.weight * slowest %}
        {%- set state.bars = state.bars + 1 %}
    {%- endfor %}
    {{ return(state.bars + seed_bars) }}
{%- endmacro %}
