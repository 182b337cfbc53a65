{#- post-hook of marts.fct_features: record the feature-defining vars this build
    used, the one place the Python stages read the label horizon, label price
    and calendar from. -#}
{% macro record_feature_vars() %}
    {%- set record = adapter.quote(target.database) ~ '.marts.feature_builds'
    -%}
    {%- set vars_json = tojson(feature_defining_vars()) | replace("'", "''") -%}
    create table if not exists {{ record }} (
        built_at timestamptz not null,
        vars json not null,
        invocation_id varchar not null
    );
    insert into {{ record }}
    values (current_timestamp, '{{ vars_json }}', '{{ invocation_id }}')
{% endmacro %}
