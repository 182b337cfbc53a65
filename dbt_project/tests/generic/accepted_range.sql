{#- accepted_range: rows where column_name (a column's test), or any of ``columns``
    (a model's test: one query for several columns sharing a range), falls outside
    [min_value, max_value] or is NaN, the first such column named in failing_column;
    tolerance widens the range for values that land a rounding error past a bound
    (100.00000000000001). Nulls pass: pair with not_null where a value is required.
    A bound left out (none) is not checked. -#}
{% test accepted_range(
    model,
    column_name=none,
    columns=none,
    min_value=none,
    max_value=none,
    tolerance=0,
    where_clause=none
) %}

{%- set checked_columns = columns if columns is not none else [column_name] %}
{%- if not checked_columns or checked_columns[0] is none %}
    {{ exceptions.raise_compiler_error("accepted_range on " ~ model ~ ": give a column or columns") }}
{%- endif %}
{%- if min_value is none and max_value is none %}
    {{ exceptions.raise_compiler_error(
        "accepted_range on " ~ checked_columns | join(", ")
        ~ ": give min_value, max_value or both, got neither"
    ) }}
{%- endif %}

select *
from (
    select
        case
            {%- for column in checked_columns %}
            when {{ column }} is not null
                and (
                    {{ is_nan(column) }}
                    {%- if min_value is not none %}
                    or {{ column }} < {{ min_value }} - {{ tolerance }}
                    {%- endif %}
                    {%- if max_value is not none %}
                    or {{ column }} > {{ max_value }} + {{ tolerance }}
                    {%- endif %}
                )
                then '{{ column }}'
            {%- endfor %}
        end as failing_column,
        *
    from {{ model }}
    {%- if where_clause %}
    where ({{ where_clause }})
    {%- endif %}
) as rows_checked
where failing_column is not null

{% endtest %}
