{#- iso_day_of_week: a date's ISO day of the week, 1 (Monday) to 7 (Sunday). -#}
{% macro iso_day_of_week(day) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'alphaduck')(day)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(day) -%}
    extract(dayofweek_iso from {{ day }})
{%- endmacro %}

{% macro duckdb__iso_day_of_week(day) -%}
    isodow({{ day }})
{%- endmacro %}
