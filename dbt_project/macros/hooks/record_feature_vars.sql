{#- post-hook of marts.fct_features: record the feature-defining vars this build
    used, the one place the Python stages read the label horizon, label price
    and calendar from. -#}
{% macro record_feature_vars() %}
    {%- set record = api.Relation.create(
        database=this.database, schema='marts', identifier='feature_builds'
    ) -%}
    {%- set vars_json = tojson(feature_defining_vars()) | replace("'", "''") -%}
    {#- (a statement of its own: Spark runs one per call) -#}
    {%- do run_query(
        'create table if not exists ' ~ record ~ ' ('
        ~ 'built_at ' ~ type_utc_timestamp() ~ ' not null, '
        ~ 'vars ' ~ type_json() ~ ' not null, '
        ~ 'invocation_id ' ~ dbt.type_string() ~ ' not null) '
        ~ table_storage()
    ) %}
    insert into {{ record }}
    values (current_timestamp, '{{ vars_json }}', '{{ invocation_id }}')
{% endmacro %}
