{#- accepted_range: rows where the column falls outside [min_value, max_value]
    (or is NaN); tolerance widens the range for values that land a rounding
    error past a bound (100.00000000000001). Nulls pass: pair with not_null
    where a value is required. A bound left out (none) is not checked. -#}
{% test accepted_range(
    model,
    column_name,
    min_value=none,
    max_value=none,
    tolerance=0,
    where_clause=none
) %}

{%- if min_value is none and max_value is none %}
    {{ exceptions.raise_compiler_error(
        "accepted_range on " ~ column_name
        ~ ": give min_value, max_value or both, got neither"
    ) }}
{%- endif %}

select *
from {{ model }}
where
    {{ column_name }} is not null
    and (
        {{ is_nan(column_name) }}
        {%- if min_value is not none %}
            or {{ column_name }} < {{ min_value }} - {{ tolerance }}
        {%- endif %}
        {%- if max_value is not none %}
            or {{ column_name }} > {{ max_value }} + {{ tolerance }}
        {%- endif %}
    )
    {%- if where_clause %}
        and ({{ where_clause }})
    {%- endif %}

{% endtest %}
