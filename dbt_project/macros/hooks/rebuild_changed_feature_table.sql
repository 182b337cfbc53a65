{#- on-run-start: when the build includes marts.fct_features and the table's
    columns are not the ones its contract lists (label horizons were added or
    dropped), drop it so this build creates it anew, in full. An incremental
    build can only append to a table of the same shape (on_schema_change='fail',
    which a contract requires); a changed var that keeps the shape recomputes
    every row in place instead (feature_vars_changed). -#}
{% macro rebuild_changed_feature_table() %}
    {%- set dropped = namespace(table=false) %}
    {%- set node_id = 'model.' ~ project_name ~ '.fct_features' %}
    {%- if execute and node_id in selected_resources %}
        {%- set table = adapter.get_relation(
            database=target.database, schema='marts', identifier='fct_features'
        ) %}
        {%- if table is not none %}
            {%- set existing = adapter.get_columns_in_relation(table)
                | map(attribute='name') | map('lower') | list %}
            {%- set listed = graph.nodes[node_id].columns.keys() | list %}
            {%- if existing | sort != listed | sort %}
                {%- do rebuild_in_full(
                    table,
                    "marts.fct_features has other columns than its contract ("
                    ~ (listed | reject('in', existing) | join(', ') or 'none')
                    ~ " new, " ~ (existing | reject('in', listed)
                    | join(', ') or 'none') ~ " gone)"
                ) %}
                {%- set dropped.table = true %}
            {%- endif %}
        {%- endif %}
    {%- endif %}
    {#- dbt rolls the hooks' connection back when they end: keep the drop #}
    {{ 'commit' if dropped.table else 'select 1' }}
{% endmacro %}
