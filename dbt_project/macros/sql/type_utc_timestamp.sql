{#- type_utc_timestamp: the type of an instant (bars' ts, ingested_at): DuckDB's
    timestamp with time zone; Spark's timestamp, which is one already (shown in
    the session time zone, UTC here). -#}
{% macro type_utc_timestamp() -%}
    {{ return(adapter.dispatch('type_utc_timestamp', 'alphaduck')()) }}
{%- endmacro %}

{% macro default__type_utc_timestamp() -%}
    timestamp
{%- endmacro %}

{% macro duckdb__type_utc_timestamp() -%}
    timestamp with time zone
{%- endmacro %}
