{#- last_value_ignoring_nulls: the window function giving the frame's last
    non-null x (follow it with over (...)). DuckDB takes IGNORE NULLS inside the
    call, Spark (and the SQL standard) after it. -#}
{% macro last_value_ignoring_nulls(x) -%}
    {{ return(adapter.dispatch('last_value_ignoring_nulls', 'alphaduck')(x)) }}
{%- endmacro %}

{% macro default__last_value_ignoring_nulls(x) -%}
    last_value({{ x }}) ignore nulls
{%- endmacro %}

{% macro duckdb__last_value_ignoring_nulls(x) -%}
    last_value({{ x }} ignore nulls)
{%- endmacro %}
