{#- rows_failing_a_check: the rows of ``model`` (within ``where_clause``) on which any of
    ``checks`` holds, a list of [column, SQL that is true for a bad value], each row with
    the first such column named in failing_column (`alphaduck build` counts a failed
    test's rows by it). The generic tests over several columns share it: one query per
    model instead of one test per column. -#}
{% macro rows_failing_a_check(model, checks, where_clause=none) %}

select *
from (
    select
        case
            {%- for column, bad in checks %}
            when {{ bad }} then '{{ column }}'
            {%- endfor %}
        end as failing_column,
        *
    from {{ model }}
    {%- if where_clause %}
    where ({{ where_clause }})
    {%- endif %}
) as rows_checked
where failing_column is not null

{% endmacro %}
