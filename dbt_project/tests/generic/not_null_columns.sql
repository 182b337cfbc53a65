{#- not_null_columns: rows where any of ``columns`` is null, each with the first
    null one named in failing_column. One query per model, not one test per
    column: each dbt test node costs ~45 ms of dbt's own work (its context,
    events, connection) whatever its SQL, and a build runs these on every model.
    `alphaduck build` counts a failure's rows by failing_column. -#}
{% test not_null_columns(model, columns) %}

{%- if not columns %}
    {{ exceptions.raise_compiler_error("not_null_columns on " ~ model ~ ": give the columns to check") }}
{%- endif %}

select *
from (
    select
        case
            {%- for column in columns %}
            when {{ column }} is null then '{{ column }}'
            {%- endfor %}
        end as failing_column,
        *
    from {{ model }}
) as rows_checked
where failing_column is not null

{% endtest %}
