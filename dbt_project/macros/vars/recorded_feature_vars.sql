{#- recorded_feature_vars: the feature-defining vars of the last build that
    wrote marts.fct_features (a dict), or none when there is no record (a first
    build, or a warehouse built before the record existed). -#}
{% macro recorded_feature_vars() %}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set record = adapter.get_relation(
        database=target.database, schema='marts', identifier='feature_builds'
    ) -%}
    {%- if record is none -%}{{ return(none) }}{%- endif -%}
    {%- set rows = run_query(
        "select vars from " ~ record ~ " order by built_at desc limit 1"
    ) -%}
    {%- if rows | length == 0 -%}{{ return(none) }}{%- endif -%}
    {{ return(fromjson(rows[0][0])) }}
{% endmacro %}
