{#- is_nan: whether a double is NaN (false for null and every number). -#}
{% macro is_nan(x) -%}
    {{ return(adapter.dispatch('is_nan', 'alphaduck')(x)) }}
{%- endmacro %}

{% macro default__is_nan(x) -%}
    isnan({{ x }})
{%- endmacro %}
