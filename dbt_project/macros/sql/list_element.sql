{#- list_element: the k-th element of a list (k from 1), as rolling_quantiles
    returns them. -#}
{% macro list_element(list, k) -%}
    {{ return(adapter.dispatch('list_element', 'alphaduck')(list, k)) }}
{%- endmacro %}

{% macro default__list_element(list, k) -%}
    element_at({{ list }}, {{ k }})
{%- endmacro %}

{% macro duckdb__list_element(list, k) -%}
    ({{ list }})[{{ k }}]
{%- endmacro %}
