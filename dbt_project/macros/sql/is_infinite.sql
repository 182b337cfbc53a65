{#- is_infinite: whether a double is +inf or -inf (false for null and NaN). -#}
{% macro is_infinite(x) -%}
    {{ return(adapter.dispatch('is_infinite', 'alphaduck')(x)) }}
{%- endmacro %}

{% macro default__is_infinite(x) -%}
    abs({{ x }}) = cast('infinity' as double)
{%- endmacro %}

{% macro duckdb__is_infinite(x) -%}
    isinf({{ x }})
{%- endmacro %}
