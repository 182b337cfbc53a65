{#- Engine-specific time helpers (dbt's dispatch: one definition per adapter). -#}

{#- The exchange's local calendar date of a UTC timestamp. -#}
{% macro local_date(ts, timezone) -%}
    {{ return(adapter.dispatch('local_date')(ts, timezone)) }}
{%- endmacro %}

{% macro default__local_date(ts, timezone) -%}
    cast(from_utc_timestamp({{ ts }}, '{{ timezone }}') as date)
{%- endmacro %}

{% macro duckdb__local_date(ts, timezone) -%}
    cast(timezone('{{ timezone }}', {{ ts }}) as date)
{%- endmacro %}

{#- Whole seconds from one timestamp to a later one. -#}
{% macro seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('seconds_between')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__seconds_between(start_ts, end_ts) -%}
    (unix_timestamp({{ end_ts }}) - unix_timestamp({{ start_ts }}))
{%- endmacro %}

{% macro duckdb__seconds_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }}))
{%- endmacro %}

{#- The exchange's local wall-clock time of a UTC timestamp. -#}
{% macro local_timestamp(ts, timezone) -%}
    {{ return(adapter.dispatch('local_timestamp')(ts, timezone)) }}
{%- endmacro %}

{% macro default__local_timestamp(ts, timezone) -%}
    from_utc_timestamp({{ ts }}, '{{ timezone }}')
{%- endmacro %}

{% macro duckdb__local_timestamp(ts, timezone) -%}
    timezone('{{ timezone }}', {{ ts }})
{%- endmacro %}
