{#- local_timestamp: the exchange's local wall-clock time of a UTC time. -#}
{% macro local_timestamp(ts, timezone) -%}
    {{ return(adapter.dispatch('local_timestamp', 'alphaduck')(
        ts, timezone
    )) }}
{%- endmacro %}

{% macro default__local_timestamp(ts, timezone) -%}
    from_utc_timestamp({{ ts }}, '{{ timezone }}')
{%- endmacro %}

{% macro duckdb__local_timestamp(ts, timezone) -%}
    timezone('{{ timezone }}', {{ ts }})
{%- endmacro %}
