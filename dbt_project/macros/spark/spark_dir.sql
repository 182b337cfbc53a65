{#- spark_dir: where a Spark build of the warehouse $ALPHADUCK_DB keeps its files:
    the warehouse's path without .duckdb, plus .spark (sources/<schema>/<table>/
    for the Parquet copies of the sources, warehouse/ for the tables dbt builds).
    = alphaduck.spark.spark_dir and profiles.yml's spark target (tested). -#}
{% macro spark_dir() -%}
    {{ return(
        env_var('ALPHADUCK_DB', 'data/warehouse.duckdb') | replace('.duckdb', '')
        ~ '.spark'
    ) }}
{%- endmacro %}
