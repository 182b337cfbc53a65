{#- not_null_columns: rows where any of ``columns`` is null, each with the first
    null one named in failing_column. One query per model, not one test per
    column: each dbt test node costs ~45 ms of dbt's own work (its context,
    events, connection) whatever its SQL, and a build runs these on every model. -#}
{% test not_null_columns(model, columns) %}

{%- set checks = [] %}
{%- for column in checked_columns('not_null_columns', model, columns=columns) %}
    {%- do checks.append([column, column ~ ' is null']) %}
{%- endfor %}
{{ rows_failing_a_check(model, checks) }}

{% endtest %}
