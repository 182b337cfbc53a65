{#- session_so_far: the bar's session from its first bar to this one (the
    session VWAP restarts at each session open). -#}
{% macro session_so_far() -%}
    {{ return(adapter.dispatch('session_so_far', 'alphaduck')()) }}
{%- endmacro %}

{% macro default__session_so_far() -%}
    over (
        partition by symbol, bar_size, session_date order by bar_seq
        rows between unbounded preceding and current row
    )
{%- endmacro %}
