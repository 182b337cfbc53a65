{#- type_json: a column of JSON text: DuckDB's json, elsewhere a string. -#}
{% macro type_json() -%}
    {{ return(adapter.dispatch('type_json', 'alphaduck')()) }}
{%- endmacro %}

{% macro default__type_json() -%}
    {{ dbt.type_string() }}
{%- endmacro %}

{% macro duckdb__type_json() -%}
    json
{%- endmacro %}
