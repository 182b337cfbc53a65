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

{%- set checked = checked_columns('accepted_range', model, column_name, columns) %}
{%- if min_value is none and max_value is none %}
    {{ exceptions.raise_compiler_error(
        "accepted_range on " ~ checked | join(", ")
        ~ ": give min_value, max_value or both, got neither"
    ) }}
{%- endif %}

{%- set checks = [] %}
{%- for column in checked %}
    {%- set outside = [is_nan(column)] %}
    {%- if min_value is not none %}{% do outside.append(column ~ ' < ' ~ min_value ~ ' - ' ~ tolerance) %}{% endif %}
    {%- if max_value is not none %}{% do outside.append(column ~ ' > ' ~ max_value ~ ' + ' ~ tolerance) %}{% endif %}
    {%- do checks.append([column, column ~ ' is not null and (' ~ outside | join(' or ') ~ ')']) %}
{%- endfor %}
{{ rows_failing_a_check(model, checks, where_clause) }}

{% endtest %}
