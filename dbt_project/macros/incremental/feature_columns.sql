{#- feature_columns: every column of a relation but the bookkeeping one
    bars_to_compute() adds. -#}
{% macro feature_columns() -%}
    {{ return(adapter.dispatch('feature_columns', 'alphaduck')()) }}
{%- endmacro %}

{% macro default__feature_columns() -%}
    * except (write_from_seq)
{%- endmacro %}

{% macro duckdb__feature_columns() -%}
    * exclude (write_from_seq)
{%- endmacro %}
