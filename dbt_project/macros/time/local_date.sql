{#- local_date: the exchange's local calendar date of a UTC timestamp. -#}
{% macro local_date(ts, timezone) -%}
    {{ return(adapter.dispatch('local_date', 'alphaduck')(ts, timezone)) }}
{%- endmacro %}

{% macro default__local_date(ts, timezone) -%}
    cast(from_utc_timestamp({{ ts }}, '{{ timezone }}') as date)
{%- endmacro %}

{% macro duckdb__local_date(ts, timezone) -%}
    cast(timezone('{{ timezone }}', {{ ts }}) as date)
{%- endmacro %}
