{#- positive_price: rows whose price is zero, negative, NaN, infinite or null, in
    column_name (a column's test) or in any of ``columns`` (a model's test: one
    query for several prices), the first bad column named in failing_column.
    (NaN sorts above every number in DuckDB, so `price > 0` alone would let it
    through.) -#}
{% test positive_price(model, column_name=none, columns=none) %}

{%- set prices = columns if columns is not none else [column_name] %}
{%- if not prices or prices[0] is none %}
    {{ exceptions.raise_compiler_error("positive_price on " ~ model ~ ": give a column or columns") }}
{%- endif %}

select *
from (
    select
        case
            {%- for price in prices %}
            when {{ price }} is null
                or {{ is_nan(price) }}
                or {{ is_infinite(price) }}
                or {{ price }} <= 0
                then '{{ price }}'
            {%- endfor %}
        end as failing_column,
        *
    from {{ model }}
) as rows_checked
where failing_column is not null

{% endtest %}
