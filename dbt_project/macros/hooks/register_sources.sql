{#- on-run-start: make the project's sources (raw.*, ml.predictions) readable by
    the engine that builds. On DuckDB they are tables of the warehouse already.
    On Spark they are the Parquet copies `alphaduck build --target spark` wrote
    to spark_dir()/sources/<schema>/<table>/, registered as tables over those
    files (and refreshed, so a new export is read). -#}
{% macro register_sources() %}
    {{ return(adapter.dispatch('register_sources', 'alphaduck')()) }}
{% endmacro %}

{% macro default__register_sources() %}
    select 1
{% endmacro %}

{% macro spark__register_sources() %}
    {%- if execute %}
        {%- set root = spark_dir() ~ '/sources' %}
        {%- for source in graph.sources.values() %}
            {%- set location = root ~ '/' ~ source.schema ~ '/' ~ source.name %}
            {%- do run_query('create database if not exists ' ~ source.schema) %}
            {%- do run_query(
                'create table if not exists ' ~ source.schema ~ '.' ~ source.name
                ~ " using parquet location '" ~ location ~ "'"
            ) %}
            {%- do run_query(
                'refresh table ' ~ source.schema ~ '.' ~ source.name
            ) %}
        {%- endfor %}
    {%- endif %}
    select 1
{% endmacro %}
