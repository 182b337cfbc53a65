{#- incremental_features: whether this build appends to marts.fct_features (it
    exists, no --full-refresh, and the feature-defining vars are those it was
    built with). A macro of its own so that a unit test of an ephemeral model
    can override it. -#}
{% macro incremental_features() %}
    {%- if flags.FULL_REFRESH -%}{{ return(false) }}{%- endif -%}
    {%- set table = adapter.get_relation(
        database=target.database, schema='marts', identifier='fct_features'
    ) -%}
    {{ return(table is not none and not feature_vars_changed()) }}
{% endmacro %}
