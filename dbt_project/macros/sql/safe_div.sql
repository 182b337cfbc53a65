{#- safe_div: x / y, null instead of an error or infinity when y is 0. -#}
{% macro safe_div(x, y) -%}
    {{ return(adapter.dispatch('safe_div', 'alphaduck')(x, y)) }}
{%- endmacro %}

{% macro default__safe_div(x, y) -%}
    (({{ x }}) / nullif({{ y }}, 0))
{%- endmacro %}
