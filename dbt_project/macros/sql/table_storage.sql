{#- table_storage: what follows the column list of a create table the project
    writes itself (not a model): nothing on DuckDB, the file format on Spark. -#}
{% macro table_storage() -%}
    {{ return(adapter.dispatch('table_storage', 'alphaduck')()) }}
{%- endmacro %}

{% macro default__table_storage() -%}
{%- endmacro %}

{% macro spark__table_storage() -%}
    using parquet
{%- endmacro %}
